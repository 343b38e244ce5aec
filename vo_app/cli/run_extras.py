"""What ``vo-run --viewer`` and ``--save-ply`` add around the VO loop."""
from __future__ import annotations

from pathlib import Path

import click

from ..viewer.recorder import MapRecorder, fan_out


def damaged_frame_lines(report: dict, prog: str = "vo-run") -> list[str]:
    """One console line per frame the run could not read (``report.json`` ``skipped_frames``): its file,
    why, and the pair that bridged it (or how its row was filled)."""
    bridges = {f: (p["frame"], p["ref"]) for p in report.get("pairs", []) for f in p.get("bridged_over", ())}
    filled = report.get("filled_frames", {})
    lines = []
    for s in report.get("skipped_frames", []):
        f = s["frame"]
        reason = str(s.get("reason", "unreadable")).split(": ", 1)[-1]
        if f in bridges:
            how = f"frame {bridges[f][0]} posed against frame {bridges[f][1]}"
        elif any(p["frame"] > f for p in report.get("pairs", [])):
            how = "before the first readable frame"
        else:
            how = "after the last posed frame"
        row = filled.get(str(f))
        lines.append(f"{prog}: damaged frame {f} ({s.get('path')}): {reason}; {how}"
                     + (f"; its row {row}" if row else ""))
    return lines


class RunExtras:
    """Builds the ``on_frame`` callback; writes ``map.ply``; closes the viewer at the end."""

    def __init__(self, seq, viewer: bool = False, viewer_close: bool = False, save_ply: bool = False,
                 snapshot: Path | None = None, prog: str = "vo-run"):
        self.prog, self.viewer_close = prog, viewer_close
        self.live = None
        if viewer:
            from ..viewer.client import LiveViewer

            live = LiveViewer(seq.intrinsics.K, seq.size, title=f"vo_app: {seq.name}", close_at_end=viewer_close,
                              on_problem=lambda why: click.echo(f"{prog}: viewer disabled: {why}", err=True),
                              snapshot=None if snapshot is None else str(Path(snapshot).resolve()),
                              gt_poses=seq.gt_poses)
            self.live = live if live.start() else None
        self.recorder = MapRecorder() if save_ply else None
        self.on_frame = fan_out([self.live, self.recorder])

    def write_map(self, out_dir: Path) -> None:
        if self.recorder is None:
            return
        from ..viewer.ply import write_ply

        path = write_ply(Path(out_dir) / "map.ply", self.recorder.map.points, self.recorder.map.colors)
        click.echo(f"map: {path} ({len(self.recorder.map)} points)")

    def close(self, aborted: bool = False) -> None:
        if self.live is None:
            return
        if aborted:
            self.live.finish(wait=False, timeout=1.0)
            return
        if not self.viewer_close and self.live.running():
            click.echo(f"{self.prog}: the run is complete; close the viewer window to exit", err=True)
        self.live.finish(wait=True)
