"""HTML pages from Jinja2 templates (``recloop/templates/*.html.j2``), escaped by default.

The reports recloop writes (the replay simulation's, a drift check's index) are rendered
here rather than assembled from f-strings, so every value that reaches a page (feature
names, gate reasons, summaries from the data) is HTML-escaped unless a template says
otherwise.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import jinja2


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("recloop", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a misspelt name fails instead of rendering ""
    )


def render(template: str, **context: Any) -> str:
    """The page ``template`` (a file name under ``recloop/templates``) with ``context``."""
    return _environment().get_template(template).render(**context)
