"""The loss log of a training run (JSON lines) and its learning-curve plot."""
from __future__ import annotations

import json
from pathlib import Path


class JsonlLog:
    """Append-only ``log.jsonl``: one JSON object per line (``{"step": ..., ...}``)."""

    def __init__(self, path: Path, keep_until_step: int | None = None):
        self.path = Path(path)
        if keep_until_step is not None and self.path.exists():
            # a resumed run drops what the interrupted run logged after its last checkpoint
            rows = [r for r in read_log(self.path) if r.get("step", 0) <= keep_until_step]
            self.path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        elif keep_until_step is None:
            self.path.write_text("")

    def write(self, **row) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")


def read_log(path: Path) -> list[dict]:
    rows = []
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if line:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut by a crash
    return rows


def plot_curve(log_path: Path, png_path: Path, title: str = "flow training", refs: dict | None = None) -> Path:
    """Training loss / batch EPE and the held-out metric (flow: EPE; depth: AbsRel, median-scaled
    and metric) against the step, log-scale y; written to ``png_path``.

    ``refs``: optional ``{label: value}`` drawn as horizontal dashed lines (baselines on the held-out set).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_log(log_path)
    tr = [r for r in rows if "loss" in r]
    va = [r for r in rows if "val_epe" in r]
    vd = [r for r in rows if "val_absrel" in r]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    if tr:
        ax.plot([r["step"] for r in tr], [r["loss"] for r in tr], lw=0.8, alpha=0.6, label="training loss")
        if any("epe" in r for r in tr):
            ax.plot([r["step"] for r in tr if "epe" in r], [r["epe"] for r in tr if "epe" in r], lw=0.8, alpha=0.8,
                    label="training batch EPE (px)")
    if va:
        ax.plot([r["step"] for r in va], [r["val_epe"] for r in va], "o-", lw=1.5, label="held-out synthetic EPE (px)")
    if vd:
        ax.plot([r["step"] for r in vd], [r["val_absrel"] for r in vd], "o-", lw=1.5,
                label="held-out synthetic AbsRel (median-scaled)")
        ax.plot([r["step"] for r in vd], [r["val_absrel_metric"] for r in vd], "s--", lw=1.0,
                label="held-out synthetic AbsRel (metric)")
    what = "AbsRel" if vd and not va else "EPE"
    for i, (label, value) in enumerate((refs or {}).items()):
        ax.axhline(value, ls="--", lw=1, color=f"C{3 + i}", label=f"{label} (held-out {what})")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    ax.set_title(title)
    fig.tight_layout()
    png_path = Path(png_path)
    png_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png_path)
    plt.close(fig)
    return png_path


def main(argv=None) -> None:
    """``python -m vo_app.train.curve RUN_DIR/log.jsonl OUT.png [--ref "DIS medium=1.23" ...] [--title T]``."""
    import argparse

    ap = argparse.ArgumentParser(description="Plot the learning curve of a vo-train run.")
    ap.add_argument("log")
    ap.add_argument("png")
    ap.add_argument("--title", default="vo-train flow")
    ap.add_argument("--ref", action="append", default=[], help="LABEL=VALUE horizontal reference line")
    a = ap.parse_args(argv)
    refs = {r.rsplit("=", 1)[0]: float(r.rsplit("=", 1)[1]) for r in a.ref}
    print(plot_curve(Path(a.log), Path(a.png), a.title, refs))


if __name__ == "__main__":
    main()
