"""The replay simulation's report: JSON summary, PNG plot and a self-contained HTML page.

Kept apart from ``simulate`` so the rendering can be read (and tested) without running a
simulation: it takes plain per-week records and writes files.
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recloop.pages import render

ARMS = ("continual", "frozen", "full_retrain", "recent_pop")
ARM_LABELS = {
    "continual": "continual loop (champion)",
    "frozen": "initial model, never retrained",
    "full_retrain": "full retrain from scratch each window",
    "recent_pop": "recent popularity (previous window's most popular)",
}


@dataclass
class ArmWeek:
    """One arm's result on one replayed window (evaluated before its data is learned)."""

    ndcg: float
    coverage: float
    train_seconds: float
    version: str | None = None
    per_user_ndcg_sum: list[float] = field(default_factory=list)  # aligned with test_users


@dataclass
class WeekRecord:
    """What happened in one replayed window.

    ``week`` numbers the window: for windows by time, its period's number counted from the
    first event (the 21st week after a 20-week base); for windows by event count, its place
    in the replay (1, 2, ...).
    """

    week: int
    start: str
    end: str
    events: int
    test_cases: int
    test_users: list[int]
    test_user_cases: list[int]  # next-item cases per test user (same order)
    arms: dict[str, ArmWeek]
    drift_detected: bool
    drifted_features: list[str]
    retrain: bool
    decision: str  # promoted | rejected | no-retrain | skipped
    candidate_version: str | None
    reasons: list[str]
    loop_seconds: float


def summarize(
    records: list[WeekRecord], bootstrap: dict[str, Any], report_path: Path, bootstrap_info: dict
) -> dict[str, Any]:
    """The JSON summary: per-arm means, decisions, and the intervals of the comparisons.

    ``weeks`` counts the replayed windows (of any kind), ``per_week`` lists them.
    """
    arms: dict[str, dict[str, float]] = {}
    for arm in ARMS:
        weeks = [r.arms[arm] for r in records if arm in r.arms]
        if not weeks:
            continue
        arms[arm] = {
            "mean_ndcg@10": float(np.mean([w.ndcg for w in weeks])),
            "mean_coverage@10": float(np.mean([w.coverage for w in weeks])),
            "train_seconds": float(sum(w.train_seconds for w in weeks)),
        }
    return {
        "weeks": len(records),
        "arms": arms,
        "promotions": sum(r.decision == "promoted" for r in records),
        "rejections": sum(r.decision == "rejected" for r in records),
        "drift_events": sum(r.drift_detected for r in records),
        "bootstrap": bootstrap,
        "initial_model": bootstrap_info,
        "report_path": str(report_path),
        "per_week": [_week_json(r) for r in records],
    }


def _week_json(record: WeekRecord) -> dict[str, Any]:
    data = asdict(record)
    data.pop("test_users")
    data.pop("test_user_cases")
    for arm in data["arms"].values():
        arm.pop("per_user_ndcg_sum")
    return data


def write_report(summary: dict[str, Any], records: list[WeekRecord], out_dir: Path) -> Path:
    """Write ``summary.json``, ``simulation.png`` and ``report.html`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    png = out_dir / "simulation.png"
    plot_weeks(records, png)
    html_path = out_dir / "report.html"
    html_path.write_text(render_html(summary, png))
    return html_path


def plot_weeks(records: list[WeekRecord], path: Path) -> None:
    """NDCG@10 and coverage@10 per window and arm, with promotions and drift marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    weeks = [r.week for r in records]
    fig, axes = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True)
    for ax, key, label in ((axes[0], "ndcg", "NDCG@10"), (axes[1], "coverage", "coverage@10")):
        for arm in ARMS:
            ys = [getattr(r.arms[arm], key) if arm in r.arms else np.nan for r in records]
            ax.plot(weeks, ys, marker="o", ms=3, label=ARM_LABELS[arm])
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    for r in records:
        if r.decision == "promoted":
            axes[0].axvline(r.week, color="tab:green", alpha=0.25, lw=3)
        if r.drift_detected:
            axes[0].plot(r.week, axes[0].get_ylim()[0], marker="x", color="tab:red", ms=8)
    axes[0].set_title("Replay simulation: each window is scored before the loop learns it")
    axes[0].legend(fontsize=8, loc="best")
    axes[1].set_xlabel("replayed window (green band: promotion, red x: drift alarm)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# Long: one formatting pass over the summary's fields, kept beside each other so that the
# template receives ready strings.
def render_html(summary: dict[str, Any], png: Path) -> str:
    """A self-contained page: summary table, plot, and the per-window log.

    The numbers are formatted here; ``templates/simulation_report.html.j2`` lays them out
    (and escapes them: gate reasons come from the data).
    """

    boot = summary.get("bootstrap") or {}

    def ci(arm: str) -> str:
        b = boot.get(arm)
        return f"[{b['low']:.4f}, {b['high']:.4f}]" if b else ""

    arm_rows = [
        [
            ARM_LABELS[a],
            f"{v['mean_ndcg@10']:.4f}",
            ci(a),
            f"{v['mean_coverage@10']:.4f}",
            f"{v['train_seconds']:.1f}",
        ]
        for a, v in summary["arms"].items()
    ]
    week_rows = [
        [
            str(w["week"]),
            str(w["start"]),
            str(w["test_cases"]),
            *(f"{w['arms'][a]['ndcg']:.4f}" if a in w["arms"] else "" for a in ARMS),
            "yes" if w["drift_detected"] else "",
            str(w["decision"]),
            w["candidate_version"] or "",
            "; ".join(w["reasons"]),
        ]
        for w in summary["per_week"]
    ]
    gap_text = _difference_text(boot.get("continual_minus_frozen"), "n/a")
    pop_text = _difference_text(
        boot.get("continual_minus_recent_pop"), "n/a (no recent-popularity arm)"
    )
    ratio = boot.get("continual_over_full_retrain") or {}
    ratio_text = (
        f"{ratio['ratio']:.3f}, 95% CI [{ratio['low']:.3f}, {ratio['high']:.3f}]"
        if ratio
        else "n/a (no full-retrain arm)"
    )
    return render(
        "simulation_report.html.j2",
        weeks=summary["weeks"],
        promotions=summary["promotions"],
        rejections=summary["rejections"],
        drift_events=summary["drift_events"],
        arm_rows=arm_rows,
        week_rows=week_rows,
        gap_text=gap_text,
        pop_text=pop_text,
        every=summary.get("every", "7d"),
        windows_by=summary.get("windows_by", "time"),
        ratio_text=ratio_text,
        image=base64.b64encode(png.read_bytes()).decode("ascii"),
    )


def _difference_text(gap: dict[str, float] | None, missing: str) -> str:
    """``+0.0069 NDCG@10, 95% CI [+0.0055, +0.0085], p = 0.000`` (or ``missing``)."""
    if not gap:
        return missing
    return (
        f"{gap['diff']:+.4f} NDCG@10, 95% CI [{gap['low']:+.4f}, {gap['high']:+.4f}], "
        f"p = {gap['p_value']:.3f}"
    )
