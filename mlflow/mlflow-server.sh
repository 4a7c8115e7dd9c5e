#!/usr/bin/env bash
# Run the MLflow tracking server and model registry for a recloop team.
#
#   mlflow/mlflow-server.sh [ENV_FILE]        # ENV_FILE: see mlflow/server.env.example
#
# Backend store: PostgreSQL (runs, metrics, registered models, aliases).
# Artifacts: proxied by the server (clients get mlflow-artifacts:/ URIs and need no storage
# credentials) and written under MLFLOW_ARTIFACTS_DESTINATION (a directory or s3://...).
# The database password never appears in a URI or on the command line: libpq reads it from
# PGPASSWORD, which this script fills from PGPASSWORD_FILE (a Docker/Compose secret).
# The docker/mlflow.Dockerfile image uses this script as its entrypoint.
set -euo pipefail

if [[ $# -ge 1 ]]; then
  set -a
  # shellcheck disable=SC1090
  source "$1"
  set +a
fi

if [[ -n "${PGPASSWORD_FILE:-}" ]]; then
  PGPASSWORD="$(cat "$PGPASSWORD_FILE")"
  export PGPASSWORD
fi

: "${MLFLOW_BACKEND_STORE_URI:?set MLFLOW_BACKEND_STORE_URI, e.g. postgresql+psycopg://recloop@db:5432/mlflow}"
MLFLOW_ARTIFACTS_DESTINATION="${MLFLOW_ARTIFACTS_DESTINATION:-./mlartifacts}"
MLFLOW_HOST="${MLFLOW_HOST:-127.0.0.1}"
MLFLOW_PORT="${MLFLOW_PORT:-5000}"
MLFLOW_WORKERS="${MLFLOW_WORKERS:-2}"
# The job runner (GenAI evaluation jobs) starts ~10 extra processes; recloop does not use it.
export MLFLOW_SERVER_ENABLE_JOB_EXECUTION="${MLFLOW_SERVER_ENABLE_JOB_EXECUTION:-false}"

args=(
  --backend-store-uri "$MLFLOW_BACKEND_STORE_URI"
  --artifacts-destination "$MLFLOW_ARTIFACTS_DESTINATION"
  --host "$MLFLOW_HOST"
  --port "$MLFLOW_PORT"
  --workers "$MLFLOW_WORKERS"
)
# Listening beyond localhost needs the Host headers clients will send (e.g. mlflow:5000).
if [[ -n "${MLFLOW_ALLOWED_HOSTS:-}" ]]; then
  args+=(--allowed-hosts "$MLFLOW_ALLOWED_HOSTS")
fi
if [[ -n "${MLFLOW_CORS_ALLOWED_ORIGINS:-}" ]]; then
  args+=(--cors-allowed-origins "$MLFLOW_CORS_ALLOWED_ORIGINS")
fi

exec mlflow server "${args[@]}"
