"""The text table of ``vo-eval traj``: one row per metric, one column per estimate."""
from __future__ import annotations

import math


def _num(v, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return f"{v:.{digits}f}"


def _lengths_text(lengths: list[float]) -> str:
    if not lengths:
        return "-"
    return f"{lengths[0]:g}-{lengths[-1]:g} m" if len(lengths) > 1 else f"{lengths[0]:g} m"


def _rows(r: dict) -> list[tuple[str, str]]:
    of = f" of {r['gt_poses_total']} GT" if r.get("gt_poses_total") else ""
    rows = [("poses", f"{r['n_poses']}{of} (by {r['matched_by']})"),
            ("path length [m]", _num(r["path_length_m"], 2)),
            ("alignment", r["align"] + (f" (scale {r['scale']:.4g})" if r["align"] in ("sim3", "scale") else ""))]
    for k in ("rmse", "mean", "median", "max"):
        rows.append((f"ATE {k} [m]", _num(r["ate_m"][k])))
    for key in ("rpe_frame", "rpe_dist"):
        block = r.get(key)
        if block is None:
            continue
        d = "1 frame" if key == "rpe_frame" else f"{block['delta']:g} m"
        for rel, unit in (("trans_m", "m"), ("rot_deg", "deg")):
            st = block[rel]
            name = "trans" if rel == "trans_m" else "rot"
            rows.append((f"RPE {name} rmse [{unit}] ({d})", _num(None if st is None else st["rmse"])))
            rows.append((f"RPE {name} mean [{unit}] ({d})", _num(None if st is None else st["mean"])))
    k = r["kitti"]
    seg = _lengths_text(k["lengths"])
    rows.append((f"KITTI t_err [%] ({seg})", _num(k["t_err_pct"], 3)))
    rows.append((f"KITTI r_err [deg/100m] ({seg})", _num(k["r_err_deg_per_100m"], 3)))
    rows.append(("KITTI segments", str(k["n_segments"])))
    d = r.get("drift")
    if d is not None:
        start = f"frame {d['from_frame']} on" if d.get("from_frame") else "start"
        rows.append((f"scale drift at end [ratio, {start} = 1]", _num(d["end"])))
        worst = _num(d["worst"])
        rows.append(("scale drift worst [r-1]", worst if d["worst_frame"] is None
                     else f"{d['worst']:+.4f} (frame {d['worst_frame']})"))
        for c in d.get("by_step_length") or []:
            rows.append((f"scale drift outside +-5%, GT step {_class_text(c)} m", f"{c['outside']}/{c['steps']}"))
    return rows


def _class_text(c: dict) -> str:
    return f"<{c['max_m']:g}" if c["min_m"] == 0 else (f">={c['min_m']:g}" if c["max_m"] is None
                                                        else f"{c['min_m']:g}-{c['max_m']:g}")


def format_table(results: dict[str, dict]) -> str:
    """``{label: evaluate_pair result}`` -> an aligned plain-text table (no trailing newline)."""
    labels = list(results)
    columns = [_rows(results[name]) for name in labels]
    names = [name for name, _ in columns[0]]
    # estimates may differ in which RPE rows they have (never, in one call; kept safe)
    values = [dict(col) for col in columns]
    width0 = max(len("metric"), *(len(n) for n in names))
    widths = [max(len(lab), *(len(v.get(n, "")) for n in names)) for lab, v in zip(labels, values)]
    lines = ["  ".join(["metric".ljust(width0)] + [lab.rjust(w) for lab, w in zip(labels, widths)])]
    lines.append("  ".join(["-" * width0] + ["-" * w for w in widths]))
    for n in names:
        lines.append("  ".join([n.ljust(width0)] + [v.get(n, "n/a").rjust(w) for v, w in zip(values, widths)]))
    return "\n".join(lines)
