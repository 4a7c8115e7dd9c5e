"""Render the evaluation benchmark (``eval_benchmark.py`` output) as Markdown and HTML.

    .venv/bin/python benchmarks/report.py [benchmarks/results/eval_ml100k.json]

Two tables: recloop's baselines and model variants next to RecBole 1.2.1's reference figures
(issue 5; coverage and Gini on RecBole's 1,683-item catalog so they compare), and every
metric of every recloop row (real catalog of 1,682).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
TEMPLATES = Path(__file__).resolve().parent / "templates"

# Issue 5: RecBole 1.2.1 on the same data and protocol, 2 CPU cores.
# (model, recall, ndcg, mrr, coverage of 1683, gini, avg pop, train s, epochs / how it stopped)
REFERENCE = [
    ("Pop", 0.0721, 0.0403, 0.0307, 0.0523, 0.9862, 377.7, 1, "1 (best 0), epoch cap"),
    ("ItemKNN", 0.1145, 0.0629, 0.0473, 0.2739, 0.9021, 248.7, 1, "1 (best 0), epoch cap"),
    ("BPR", 0.1241, 0.0673, 0.0502, 0.3214, 0.9053, 275.9, 138, "62 (best 50), converged"),
    ("LightGCN", 0.0923, 0.0489, 0.0358, 0.1895, 0.9470, 314.8, 388, "56 (best 44), converged"),
    ("GRU4Rec", 0.1368, 0.0677, 0.0471, 0.2175, 0.9238, 249.5, 665, "8 (best 7), time budget"),
    ("SASRec", 0.1368, 0.0684, 0.0481, 0.2044, 0.9271, 241.0, 623, "4 (best 3), time budget"),
    (
        "SASRec (longer run)",
        0.2057,
        0.1035,
        0.0727,
        0.4641,
        0.8127,
        178.3,
        3862,
        "27 (best 17), near converged",
    ),
    ("BERT4Rec", 0.1177, 0.0581, 0.0405, 0.1806, 0.9321, 261.6, 598, "4 (best 3), time budget"),
]
# Same-named reference row for relative differences.
COUNTERPART = {"pop": "Pop", "itemknn": "ItemKNN"}

COMPARE_COLUMNS = [
    "model",
    "source",
    "Recall@10",
    "NDCG@10",
    "MRR@10",
    "coverage@10 (1,683)",
    "Gini@10 (1,683)",
    "avg pop@10",
    "train s",
    "eval s (943 users)",
    "epochs",
]
ALL_METRICS = [
    "recall",
    "precision",
    "hit",
    "ndcg",
    "mrr",
    "map",
    "coverage",
    "gini",
    "novelty",
    "ild",
    "ild_genre",
    "avg_popularity",
    "tail_share",
    "category_entropy",
    "entropy",
]

NOTES = """\
Notes
- Protocol: leave-one-out by time (stable sort: equal timestamps keep file order), the last
  event of each of the 943 users is the test item, full ranking over the catalog with every
  training and validation item of the user excluded; K = 10.
- Percentages after recloop's pop and itemknn figures: relative difference with the
  like-for-like RecBole row (pop: RecBole's Pop with its counting fixed, when
  `recbole_pop_check.json` is present; itemknn: the ItemKNN reference).
- Coverage and Gini of the recloop rows in the first table use RecBole's catalog of 1,683
  (its padding id counted), the second table the real 1,682.
- **Why Pop differs from the reference.** Against the published Pop row, recloop's pop is
  +19.1% Recall@10, +11.4% NDCG@10, +6.0% MRR@10, +3.4% coverage, -0.1% Gini, +10.2% avg pop:
  more than the 2% the issue allows, and not a protocol difference (ItemKNN agrees within
  1.4%). RecBole 1.2.1's `Pop` does not rank by interaction
  count. `calculate_loss` does `item_cnt[item, :] = item_cnt[item, :] + 1` (an indexed
  assignment: an item repeated in a batch is counted once), and `Pop` is a POINTWISE model,
  so each training batch holds 1,024 positives plus 1,024 uniformly sampled negatives. Its
  "popularity" is the number of the ~96 batches in which an item appears as a positive *or
  a sampled negative*: saturated at the top and noisy. Re-running RecBole 1.2.1
  (`benchmarks/recbole_pop_check.py`) reproduces the reference exactly (0.0721 / 0.0403 /
  0.0307 / 0.0523 / 0.9862 / 377.70); with the counting fixed (`index_add_` of the positives)
  RecBole gives 0.0859 / 0.0444 / 0.0319 / 0.0541 / 0.9856 / 416.09: recloop's `pop` within
  2% on Recall, coverage, Gini and avg pop, and 1-2% on NDCG/MRR, which differ only by the
  order of tied counts (torch.topk's order versus recloop's "lower item id first"; RecBole's
  fixed run re-ranked with torch.topk gives 0.0859 / 0.0444 / 0.0319 exactly).
- ItemKNN: recloop passes the test case's full history (training + validation items) to the
  scorer; RecBole's ItemKNN scores from the training matrix only.
- Train/eval seconds are wall clock on a shared 2-core machine: upper bounds.
"""


def _fmt(value, digits=4) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if abs(value) >= 100:
        return f"{value:.1f}"
    return f"{value:.{digits}f}"


def _recbole_rerun_rows(check: dict | None) -> tuple[list[list[str]], dict]:
    """Rows of ``recbole_pop_check.py``'s output; the counting-fixed run as a counterpart."""
    if not check:
        return [], {}
    keys = [
        "recall@10",
        "ndcg@10",
        "mrr@10",
        "itemcoverage@10",
        "giniindex@10",
        "averagepopularity@10",
    ]
    labels = {
        "as_shipped": "RecBole 1.2.1 re-run, as shipped",
        "counting_fixed": "RecBole 1.2.1 re-run, Pop counting fixed",
    }
    rows = [
        ["Pop", labels[name], *[_fmt(check[name][k]) for k in keys], "", "", ""]
        for name in labels
        if name in check
    ]
    fixed = check.get("counting_fixed")
    counterpart = {"Pop (counting fixed)": [fixed[k] for k in keys]} if fixed else {}
    return rows, counterpart


def comparison_rows(payload: dict, check: dict | None = None) -> list[list[str]]:
    """Reference rows, then recloop rows with their relative gap to the like-for-like row.

    With ``check`` (RecBole re-run), recloop's pop is compared with RecBole's Pop once its
    counting is fixed; itemknn with the ItemKNN reference.
    """
    rows = []
    counterparts = dict(COUNTERPART)
    reference = {name: values for name, *values in REFERENCE}
    for name, recall, ndcg, mrr, cov, gini, pop, train, epochs in REFERENCE:
        rows.append(
            [
                name,
                "RecBole 1.2.1 (reference)",
                *map(_fmt, (recall, ndcg, mrr, cov, gini)),
                _fmt(pop),
                f"{train}",
                "",
                epochs,
            ]
        )
    rerun, fixed = _recbole_rerun_rows(check)
    rows += rerun
    if fixed:
        reference.update(fixed)
        counterparts["pop"] = "Pop (counting fixed)"
    for row in payload["rows"]:
        m, rb = row["metrics"], row["recbole_catalog"]
        values = [
            m["recall@10"],
            m["ndcg@10"],
            m["mrr@10"],
            rb["coverage@10"],
            rb["gini@10"],
            m["avg_popularity@10"],
        ]
        cells = [_fmt(v) for v in values]
        counterpart = reference.get(counterparts.get(row["model"], ""))
        if counterpart:
            cells = [
                f"{c} ({(v / r - 1) * 100:+.1f}%)"
                for c, v, r in zip(cells, values, counterpart[:6], strict=True)
            ]
        train = row.get("train_seconds", row["fit_seconds"])
        rows.append(
            [
                row["model"],
                "recloop",
                *cells,
                _fmt(train, 2),
                _fmt(row["eval_seconds_best"], 3),
                str(row.get("epochs") or ""),
            ]
        )
    return rows


def metric_rows(payload: dict) -> tuple[list[str], list[list[str]]]:
    """Every metric @10 of every recloop row, with fit/eval seconds."""
    header = [
        "model",
        *[f"{m}@10" for m in ALL_METRICS],
        "ild source",
        "fit/train s",
        "eval s best",
        "eval s first",
    ]
    rows = []
    for row in payload["rows"]:
        m = row["metrics"]
        rows.append(
            [
                row["model"],
                *[_fmt(m.get(f"{name}@10")) for name in ALL_METRICS],
                row["ild_source"],
                _fmt(row.get("train_seconds") or row["fit_seconds"], 2),
                _fmt(row["eval_seconds_best"], 3),
                _fmt(row["eval_seconds_first"], 3),
            ]
        )
    return header, rows


def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def _environment():
    """Jinja2 over ``benchmarks/templates``; autoescaping on, as for recloop's own pages."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def write_report(payload: dict, out_dir: Path) -> list[Path]:
    """Write ``eval_report.md`` and ``eval_report.html`` into ``out_dir``."""
    title = "recloop evaluation benchmark: MovieLens-100k, leave-one-out, K = 10"
    stamp = f"Measured {payload['created']} on {payload['cpu_count']} CPU cores."
    check_file = out_dir / "recbole_pop_check.json"
    check = json.loads(check_file.read_text()) if check_file.exists() else None
    compare = comparison_rows(payload, check)
    header, everything = metric_rows(payload)
    markdown = (
        "\n\n".join(
            [
                f"# {title}",
                stamp,
                "## Against RecBole 1.2.1's reference figures",
                _markdown_table(COMPARE_COLUMNS, compare),
                "## Every metric (real catalog of 1,682)",
                _markdown_table(header, everything),
                NOTES,
            ]
        )
        + "\n"
    )
    page = (
        _environment()
        .get_template("eval_report.html.j2")
        .render(
            title=title,
            stamp=stamp,
            tables=[
                ("Against RecBole 1.2.1's reference figures", COMPARE_COLUMNS, compare),
                ("Every metric (real catalog of 1,682)", header, everything),
            ],
            notes=[line.lstrip("- ") for line in NOTES.replace("\n  ", " ").splitlines()[1:]],
        )
    )
    paths = [out_dir / "eval_report.md", out_dir / "eval_report.html"]
    paths[0].write_text(markdown)
    paths[1].write_text(page)
    return paths


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    source = Path(argv[0]) if argv else RESULTS / "eval_ml100k.json"
    payload = json.loads(source.read_text())
    for path in write_report(payload, source.parent):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
