"""Progress of a batch on stderr: one bar over the sequences, one bar per running sequence's frames,
and one line per finished sequence (also with ``--quiet``, which drops the bars)."""
from __future__ import annotations

import sys


class BatchProgress:
    def __init__(self, total: int, skipped: int = 0, bars: bool = True):
        self.bars = bars
        self.failed = 0
        self._frames: dict[str, object] = {}
        self._slots: dict[str, int] = {}
        self.outer = None
        if bars:
            from tqdm import tqdm

            self.outer = tqdm(total=total, initial=skipped, unit="seq", desc="vo-batch", position=0,
                              dynamic_ncols=True, file=sys.stderr)

    def _write(self, text: str) -> None:
        if self.outer is not None:
            self.outer.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr, flush=True)

    def note(self, text: str) -> None:
        self._write(text)

    def event(self, kind: str, name: str, data: dict) -> None:
        if kind == "start" and self.bars:
            from tqdm import tqdm

            slot = min(set(range(1, len(self._slots) + 2)) - set(self._slots.values()))
            self._slots[name] = slot
            self._frames[name] = tqdm(total=data.get("frames"), unit="frame", desc=f"  {name}", position=slot,
                                      leave=False, dynamic_ncols=True, file=sys.stderr)
        elif kind == "frames" and name in self._frames:
            self._frames[name].update(data.get("n", 0))
        elif kind == "done":
            bar = self._frames.pop(name, None)
            self._slots.pop(name, None)
            if bar is not None:
                bar.close()
            if data.get("status") == "complete":
                secs = data.get("seconds")
                self._write(f"{name}: complete ({data.get('frames')} frames"
                            + (f", {secs:.1f} s)" if secs is not None else ")"))
            else:
                self.failed += 1
                self._write(f"{name}: failed: {data.get('error')}")
            if self.outer is not None:
                self.outer.update(1)
                if self.failed:
                    self.outer.set_postfix(failed=self.failed)

    def close(self) -> None:
        for bar in self._frames.values():
            bar.close()
        if self.outer is not None:
            self.outer.close()
