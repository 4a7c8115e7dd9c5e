"""``alembic.ini`` at the repository root, where the ``alembic`` CLI looks for it, finds the
migrations that ship in the package (``recloop.data:migrations``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_alembic_cli_from_the_repository_root_lists_recloops_migrations():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from recloop.data import migrations

    script = ScriptDirectory.from_config(Config(str(REPO / "alembic.ini")))
    assert Path(script.dir).resolve() == Path(migrations.__file__).resolve().parent
    proc = subprocess.run(
        [sys.executable, "-m", "alembic", "heads"],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[0] == script.get_current_head()
