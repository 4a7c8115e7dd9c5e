"""The operations docs name files that exist: a renamed script or template breaks this test.

Every repository path (or glob) written in backticks in the operations pages and
``mlflow/README.md`` that starts with a top-level directory of the repository must exist.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "docs" / f"{name}.md" for name in ("operations", "scaling", "configuration")]
DOCS += [REPO / "mlflow" / "README.md", REPO / "docker" / "README.md"]
TOP_DIRS = ("docs/", "docker/", "mlflow/", "flows/", "src/", "tests/", "benchmarks/")


def repo_paths(text: str) -> set[str]:
    spans = re.findall(r"`([^`\s]+)`", text)
    return {s.rstrip(".,:;") for s in spans if s.startswith(TOP_DIRS) and "<" not in s}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_paths_named_in_docs_exist(doc):
    missing = sorted(
        p for p in repo_paths(doc.read_text()) if not (REPO / p).exists() and not any(REPO.glob(p))
    )
    assert not missing, f"{doc.name} names missing paths: {missing}"
