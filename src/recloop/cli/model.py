"""CLI commands of the model stage: ``recloop train`` and ``recloop recommend``.

``recloop train [--mode full|incremental] [--encoder frozen|lora|full] [--device auto]
[--holdout none|loo] [--json]`` trains on the store's events, logs an MLflow run and
registers a version, the new ``challenger`` (``recloop.loop.train``, as the continual loop
does); with ``--json`` the last stdout line holds ``run_id``, ``model_uri``, ``version``,
``train_seconds`` and ``metrics``.

``recloop recommend USER_ID [-k 10] [--diversity LAMBDA] [--json]`` recommends for a
stored user with the champion (or the latest version before any promotion).

``recloop serve [--model URI] [--host 127.0.0.1] [--port 5001]`` answers
``POST /invocations`` like ``mlflow models serve`` (same scoring server and request format),
with the body size limit, the required Content-Type and the short error bodies of
``recloop.serving.http_guard``.
"""

from __future__ import annotations

import typer

from recloop.cli.common import emit_json, err_console, handle_errors, load_settings, out_console
from recloop.clock import parse_instant
from recloop.errors import NotFoundError, UnusableInputError

# Each command imports its stage's modules inside the function (LAZY_IMPORTS): `recloop
# --help` must not load pandas, SQLAlchemy, MLflow or torch just to print the help.


def register(app: typer.Typer) -> None:
    """Attach this stage's commands to the root app."""
    app.command("train")(train)
    app.command("recommend")(recommend)
    app.command("serve")(serve)


@handle_errors
def train(
    mode: str = typer.Option(
        "full", "--mode", help="full (from scratch) or incremental (warm start)."
    ),
    encoder: str | None = typer.Option(
        None, "--encoder", help="frozen, lora or full (default: settings)."
    ),
    device: str | None = typer.Option(
        None, "--device", help="auto, cpu, cuda, cuda:N (default: settings)."
    ),
    holdout: str = typer.Option(
        "none", "--holdout", help="none, or loo: train on the leave-one-out train part."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Train a recommender on the stored events and register it in MLflow."""
    from recloop.loop.train import store_training_job, train_and_register

    settings = load_settings()
    if encoder is not None:
        if encoder not in ("frozen", "lora", "full"):
            raise UnusableInputError(f"unknown encoder mode {encoder!r} (use frozen, lora or full)")
        settings.train.encoder_mode = encoder
    if device is not None:
        settings.train.device = device
    err_console.print(
        f"training ({mode}, encoder {settings.train.encoder_mode}, device {settings.train.device})"
    )
    job = store_training_job(settings, mode=mode, holdout=holdout)
    result = train_and_register(settings, job, show_progress=True)
    if result is None:  # a non-zero rank of `accelerate launch`: rank 0 reports
        return
    metrics = ", ".join(f"{k}={v:.4f}" for k, v in result.metrics.items() if k != "epoch")
    err_console.print(
        f"registered {result.model_uri} (run {result.run_id}) after {result.epochs} epochs "
        f"in {result.train_seconds:.1f} s; {metrics}",
        highlight=False,
    )
    if as_json:
        emit_json(result.to_dict())


@handle_errors
def recommend(
    user_id: int = typer.Argument(..., help="A user id from the event store."),
    k: int = typer.Option(10, "-k", "--k", help="How many items."),
    diversity: float = typer.Option(
        1.0, "--diversity", help="MMR lambda in [0, 1]; 1 = pure relevance."
    ),
    model: str | None = typer.Option(
        None, "--model", help="Model URI or folder (default: champion, else latest)."
    ),
    at: str | None = typer.Option(
        None,
        "--at",
        help="When the request is made: Unix seconds or an ISO date (UTC); default now. "
        "New arrivals (unseen in training, born within a year) are new relative to it.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Recommend items for a stored user, each with the history item that explains it."""
    from recloop.columns import USER_COL
    from recloop.data.store import load_events
    from recloop.serving import load_recommender
    from recloop.training.sequences import time_ordered

    settings = load_settings()
    if not 1 <= k <= settings.serving.max_k:
        raise UnusableInputError(f"-k must be from 1 to {settings.serving.max_k} (serving.max_k)")
    model = model or _latest_model_uri(settings)
    recommender = load_recommender(model, settings)
    events = load_events(settings)
    history = time_ordered(events[events[USER_COL] == user_id])["item_id"].tolist()
    if not history:
        err_console.print(f"user {user_id} has no events: popular and diverse items")
    recs = recommender.recommend(
        history, k=k, diversity_lambda=diversity, at=None if at is None else _unix_seconds(at)
    )
    titles = dict(
        zip(recommender.item_ids.tolist(), recommender.items.get("title", []), strict=False)
    )
    console = err_console if as_json else out_console  # stdout stays one JSON line
    for rank, rec in enumerate(recs, start=1):
        because = rec["because_item_id"]
        reason = (
            f"because you interacted with {titles.get(because, because)}"
            if because is not None
            else "popular"
        )
        console.print(
            f"{rank:>2}. {rec['title']} [{rec['item_id']}] {rec['score']:.3f} — {reason}",
            highlight=False,
        )
    if as_json:
        emit_json(
            {
                "user_id": user_id,
                "model_uri": model,
                "history_length": len(history),
                "recommendations": recs,
            }
        )


@handle_errors
def serve(
    model: str | None = typer.Option(
        None, "--model", help="Model URI or pyfunc folder (default: champion, else latest)."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(5001, "--port", help="Port to listen on."),
) -> None:
    """Serve a model over HTTP (/invocations, /ping) with the serving limits enforced."""
    import uvicorn

    from recloop.serving.http_guard import guarded_scoring_app
    from recloop.serving.loading import local_pyfunc

    settings = load_settings()
    model = model or _latest_model_uri(settings)
    with local_pyfunc(model, settings) as pyfunc:
        limits = pyfunc.unwrap_python_model().limits
        app = guarded_scoring_app(pyfunc, limits.max_body_bytes)
        err_console.print(
            f"serving {model} on http://{host}:{port}/invocations (k <= {limits.max_k}, "
            f"rows <= {limits.max_rows}, history <= {limits.max_history_length} ids, "
            f"body <= {limits.max_body_bytes} bytes)",
            highlight=False,
        )
        uvicorn.run(app, host=host, port=port, log_level="warning")


def _latest_model_uri(settings) -> str:
    """The champion's URI, else the newest version's (before any promotion)."""
    from recloop.registry import latest_version

    found = latest_version(settings)
    if found is None:
        raise NotFoundError("no registered model; run `recloop train` first")
    return found.model_uri


def _unix_seconds(value: str) -> float:
    """``--at``: Unix seconds, or an ISO date/time read as UTC when it has no zone."""
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return parse_instant(value)
    except ValueError:
        raise UnusableInputError(
            f"--at must be Unix seconds or an ISO date like 1998-01-15, got {value!r}"
        ) from None
