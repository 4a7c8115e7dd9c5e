"""Every MLflow tag key recloop writes on model versions, the registered model, training
and drift runs, in one place: each stage (drift reads the champion's window, the gate writes
its decision, the loop finds a window's version by its run key) spells them the same way.
"""

from __future__ import annotations

# Model-version tags: few and namespaced, because the MLflow UI lists them in a small box
# sorted by key. The story of a version (reasons, metric table, data, links) is its
# Markdown description (recloop.registry.describe); the gate's full check table is an
# artifact of its run (gate/checks.json, gate/checks.html).
TAG_TRAIN_MODE = "recloop.train_mode"  # "full" | "incremental"
TAG_WINDOW_START = "recloop.window_start"  # Unix seconds, inclusive
TAG_WINDOW_END = "recloop.window_end"  # Unix seconds, exclusive
TAG_PARENT_VERSION = "recloop.parent_version"  # registry version it was warm-started from
TAG_RUN_KEY = "recloop.run_key"  # the loop step's data window (idempotence per window)
TAG_GATE_DECISION = "recloop.gate.decision"  # "passed" | "rejected" | "forced"
TAG_GATE_POLICY = "recloop.gate.policy_version"
# Written only when they apply.
TAG_FORCED_REASON = "recloop.forced_reason"  # operator's reason for a forced promotion
TAG_PROMOTED_AT = "recloop.promoted_at"  # Unix seconds of the latest promotion
TAG_ROLLED_BACK_AT = "recloop.rolled_back_at"  # Unix seconds it was rolled back from
# Registered-model tags.
TAG_HISTORY = "recloop.promotion_history"  # JSON list of HistoryEntry dicts
TAG_LAST_DECISION = "recloop.last_decision"  # JSON of the latest gate decision
# Tags of a training run (recloop.loop.train opens it; recloop.loop.run_lifecycle reaps it).
TAG_STAGE = "recloop.stage"  # "train"
TAG_BATCH_IDS = "recloop.batch_ids"  # comma-separated ingest batch ids of the window
TAG_CODE_VERSION = "recloop.code_version"  # recloop version (+ git commit when known)
TAG_DRIFT_RUN = "recloop.drift_run_id"  # the drift check that led to this training
TAG_FLOW_RUN_ID = "recloop.flow_run_id"  # the Prefect flow run that trained it
TAG_FLOW_RUN_NAME = "recloop.flow_run_name"
TAG_FLOW_RUN_URL = "recloop.flow_run_url"  # its Prefect UI page, when a UI is known
TAG_RESUMED = "recloop.resumed"  # "true" when resumed from a checkpoint
TAG_ATTEMPTS = "recloop.attempts"  # processes that trained the model
TAG_RESUMED_FROM_EPOCH = "recloop.resumed_from_epoch"
TAG_OWNER_HOST = "recloop.owner_host"
TAG_OWNER_PID = "recloop.owner_pid"
TAG_OWNER_STARTED = "recloop.owner_started"  # the owner process's start, Unix seconds
TAG_HEARTBEAT = "recloop.heartbeat"  # Unix seconds of the owner's last sign of life
TAG_END_REASON = "recloop.end_reason"
# Tags of a drift-check run (experiment registry.drift_experiment_name).
TAG_CHECKED_VERSION = "recloop.checked_version"  # the champion whose data it compared
TAG_STEP_WINDOW = "recloop.window"  # the checked window, "YYYY-MM-DD..YYYY-MM-DD"

# Values of TAG_GATE_DECISION.
PASSED = "passed"
REJECTED = "rejected"
FORCED = "forced"
