"""One Evidently page per drift check: every table's report on a single self-contained page.

Evidently's ``snapshot.save_html`` embeds its ~3.5 MB JavaScript bundle (and a font) in
every file, so one file per table cost five bundles (~19 MB) a check. This page carries the
bundle once and puts each table's widgets in its own titled group, under a note with
recloop's verdict and how Evidently's table verdicts relate to it
(``recloop.drift.verdict``).

The bundle stays embedded: Evidently can also reference a shared ``js/evidently.<v>.js``
(its legacy ``SaveMode.FOLDER``), but MLflow shows an HTML artifact inside an iframe
built from the file's text alone, where a page that loads a neighbouring file draws
nothing.
"""

from __future__ import annotations

from typing import Any

from recloop.drift.verdict import evidently_line, untested_line, verdict_line


def evidently_page(result: Any, snapshots: dict[str, Any]) -> str:
    """The HTML of the check's Evidently page (tables in ``snapshots`` order)."""
    from evidently.core.metric_types import render_widgets
    from evidently.legacy.renderers.html_widgets import group_widget, text_widget

    widgets = [text_widget(title="recloop drift check", text=_note(result))]
    for table, snapshot in snapshots.items():
        model = snapshot.to_snapshot_model()
        widgets.append(
            group_widget(title=f"Table: {table}", widgets=[*model.widgets, *model.tests_widgets])
        )
    return render_widgets(widgets, as_iframe=False)


def _note(result: Any) -> str:
    """Markdown: recloop's verdict, Evidently's table verdicts, untested features."""
    parts = [f"**{verdict_line(result)}**"]
    parts += [line for line in (evidently_line(result), untested_line(result)) if line]
    parts.append(
        "Each table below is Evidently's report on that table; its 'Dataset Drift' line is "
        "Evidently's verdict for that table alone."
    )
    return "\n\n".join(parts)
