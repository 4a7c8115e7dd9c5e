"""Operator mistakes and a hostile environment through the CLI: one line, the right exit code.

The contract (``recloop.cli.common``): an expected failure prints exactly one line
``error: ...`` on stderr and exits 2 (3 for a rejected batch); never a traceback, never an
"internal error", never a secret such as a database password. A reader that stops reading
stdout is not a failure: the command keeps its own exit code and says nothing.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from recloop.cli.main import app

SECRET = "s3cret-pw-4711"


def invoke(*args: str, env: dict[str, str] | None = None):
    """Run the CLI in-process; returns click's Result (exit_code, stdout, stderr)."""
    return CliRunner().invoke(app, [str(a) for a in args], env=env)


def assert_one_error_line(result, *expected: str, exit_code: int = 2) -> str:
    """The contract: ``exit_code``, one ``error:`` line on stderr, nothing internal or secret."""
    output = result.stdout + result.stderr
    assert result.exit_code == exit_code, output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("error: "), line
    assert "Traceback" not in output and "internal error" not in output
    assert SECRET not in output
    for text in expected:
        assert text in line, line
    return line


# ---- a model directory cut short ----------------------------------------------------


@pytest.fixture(scope="module")
def trained_model_dir(movielens, embedding_cache_dir, tmp_path_factory) -> Path:
    """A real model trained for one epoch on MovieLens' first 5 users and the films they
    rated (a few hundred item texts to encode, not the whole catalog)."""
    from recloop.settings import Settings
    from recloop.training.trainer import train_recommender

    events = movielens.events[movielens.events["user_id"] <= 5]
    items = movielens.items[movielens.items["item_id"].isin(events["item_id"])]
    home = tmp_path_factory.mktemp("model-home")
    tiny = {"device": "cpu", "hidden_dim": 8, "num_layers": 1, "max_len": 10, "epochs": 1}
    settings = Settings(home=home, cache_dir=embedding_cache_dir, train=tiny)
    return train_recommender(settings, events, items, out_dir=home / "model").model_dir


@pytest.mark.slow
@pytest.mark.parametrize("damaged", ["model.safetensors", "item_vectors.npy", "items.parquet"])
def test_a_truncated_model_file_is_a_corrupt_model_not_a_bug(
    damaged, trained_model_dir, workspace, tmp_path
):
    import shutil

    model = tmp_path / "copied-halfway"
    shutil.copytree(trained_model_dir, model)
    data = (model / damaged).read_bytes()
    (model / damaged).write_bytes(data[: len(data) // 2])

    recommend = invoke("recommend", "1", "--model", model)
    assert_one_error_line(recommend, f"model {model} is corrupt or unreadable: {damaged}")
    evaluate = invoke("evaluate", "--model", model, "--no-log")
    assert_one_error_line(evaluate, f"model {model} is corrupt or unreadable: {damaged}")


# ---- settings ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "expects"),
    [
        ("RECLOOP_INGEST__MAX_BAD_FRACTION", "abc", "expects a number >= 0 and <= 1"),
        ("RECLOOP_INGEST__MAX_BAD_FRACTION", "1.5", "expects a number >= 0 and <= 1"),
        ("RECLOOP_TRAIN__EPOCHS", "ten", "expects a whole number > 0"),
        ("RECLOOP_TRAIN__ENCODER_MODE", "huge", "expects one of frozen, lora, full"),
        ("RECLOOP_NOTIFY__APPRISE_URLS", f"slack://{SECRET}", "must be JSON"),
    ],
)
def test_an_invalid_setting_names_its_variable_and_what_it_expects(
    variable, value, expects, workspace
):
    # A database URL with a password sits in the same environment: it must not leak.
    env = {variable: value, "RECLOOP_DATABASE_URL": f"postgresql://bob:{SECRET}@db/x"}
    result = invoke("quarantine", "list", env=env)
    line = assert_one_error_line(result, f"invalid setting {variable}", expects)
    assert value not in line  # the value is never echoed: it may be a secret


NUMERIC_SETTINGS = [
    "RECLOOP_INGEST__MAX_BAD_FRACTION",
    "RECLOOP_INGEST__CHUNK_ROWS",
    "RECLOOP_TRAIN__WINDOW_OVERLAP",
    "RECLOOP_TRAIN__EPOCHS",
    "RECLOOP_TRAIN__HYBRID",
]
ENV_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=30,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(variable=st.sampled_from(NUMERIC_SETTINGS), value=ENV_TEXT)
def test_any_value_of_a_numeric_setting_is_accepted_or_one_line_exit_2(variable, value, workspace):
    result = invoke("quarantine", "list", env={variable: value})
    if result.exit_code == 0:  # a value pydantic accepts ("0.5", " 7 ", "true"...)
        assert "error" not in result.stderr
        return
    assert_one_error_line(result, f"invalid setting {variable}")


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(variable=st.sampled_from(NUMERIC_SETTINGS), garbage=ENV_TEXT)
def test_a_rejected_setting_value_is_never_echoed(variable, garbage, workspace):
    value = f"{garbage}{SECRET}"  # never a valid number or boolean
    result = invoke("quarantine", "list", env={variable: value})
    assert_one_error_line(result, f"invalid setting {variable}")


def test_a_workspace_that_is_a_file_is_refused(workspace, tmp_path):
    home = tmp_path / "not-a-dir[bold]"  # printed as is, not read as rich markup
    home.write_text("someone's notes\n")
    result = invoke("quarantine", "list", env={"RECLOOP_HOME": str(home)})
    assert_one_error_line(result, f"workspace {home} (RECLOOP_HOME) is not a usable directory")
    assert home.read_text() == "someone's notes\n"


# ---- the event store -----------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_database_nobody_listens_on_is_one_line_with_the_password_masked(workspace):
    url = f"postgresql+psycopg://bob:{SECRET}@127.0.0.1:{_closed_port()}/recloop"
    result = invoke("quarantine", "list", env={"RECLOOP_DATABASE_URL": url})
    line = assert_one_error_line(result, "cannot open the event store", "bob:***@127.0.0.1")
    assert "refused" in line.lower()


@pytest.mark.postgres
def test_a_missing_postgres_database_is_one_line_with_the_password_masked(workspace, pg_server_url):
    from sqlalchemy.engine import make_url

    missing = f"recloop_missing_{uuid.uuid4().hex[:8]}"
    url = make_url(pg_server_url).set(database=missing, password=SECRET)
    result = invoke(
        "quarantine",
        "list",
        env={"RECLOOP_DATABASE_URL": url.render_as_string(hide_password=False)},
    )
    line = assert_one_error_line(result, "cannot open the event store", ":***@")
    assert f'database "{missing}" does not exist' in line


def test_an_unknown_database_driver_is_one_line(workspace):
    result = invoke(
        "quarantine", "list", env={"RECLOOP_DATABASE_URL": f"nosuchdb://u:{SECRET}@h/x"}
    )
    assert_one_error_line(result, "cannot open the event store nosuchdb://u:***@h/x")


# ---- files the operator points at ----------------------------------------------------


def test_replay_onto_an_existing_file_is_refused_before_any_work(workspace, tmp_path):
    target = tmp_path / "batches"
    target.write_text("keep me\n")
    result = invoke("replay", "movielens-100k", "--out", target)
    assert_one_error_line(result, f"--out {target} is a file")
    assert target.read_text() == "keep me\n"


def test_quarantine_export_onto_a_directory_is_refused(workspace, tmp_path):
    result = invoke("quarantine", "export", tmp_path)
    assert_one_error_line(result, f"{tmp_path} is a directory")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux's /dev/full")
def test_quarantine_export_onto_a_full_device_is_one_line(workspace):
    result = invoke("quarantine", "export", "/dev/full")
    assert_one_error_line(result, "/dev/full", "No space left on device")


def test_quarantine_export_leaves_no_partial_file_behind(workspace, tmp_path):
    target = tmp_path / "export" / "quarantine.csv"
    result = invoke("quarantine", "export", target)
    assert result.exit_code == 0, result.stderr
    assert target.read_text().startswith("batch_id,kind,row_number,reasons,raw")
    assert sorted(p.name for p in target.parent.iterdir()) == ["quarantine.csv"]


# ---- a reader that leaves (recloop status --json | head -1) ---------------------------


def _run_into_closed_pipe(args: list[str], home: Path) -> subprocess.CompletedProcess:
    """Run ``recloop ARGS`` with stdout a pipe whose reader has already gone away."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    env = {**os.environ, "RECLOOP_HOME": str(home), "RECLOOP_INGEST__DATA_DOCS": "false"}
    try:
        return subprocess.run(
            [sys.executable, "-m", "recloop.cli.main", *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            timeout=300,
        )
    finally:
        os.close(write_end)


@pytest.mark.slow
def test_a_reader_that_leaves_stdout_ends_quietly_with_the_commands_own_code(
    workspace, tmp_path, movielens_dir
):
    rows = (movielens_dir / "interactions.csv").read_text().splitlines()[:3]
    rejected = tmp_path / "mostly-bad.csv"
    rejected.write_text(rows[0] + "\n" + "\n".join(r + "9" * 12 for r in rows[1:]) + "\n")

    for args, code in [
        (["status", "--json"], 0),
        (["status"], 0),  # human output on stdout
        (["ingest", str(rejected), "--json"], 3),  # the batch is still rejected
    ]:
        proc = _run_into_closed_pipe(args, workspace.home)
        assert proc.returncode == code, (args, proc.stderr)
        assert "Traceback" not in proc.stderr and "error" not in proc.stderr.lower(), proc.stderr
