# syntax=docker/dockerfile:1
# recloop, CPU only: Prefect worker (flow runs as subprocesses), the Prefect server, and the
# model server (`mlflow models serve`). Same pinned versions as the test suite
# (constraints.txt): fastapi<0.151 and SQLAlchemy<2.1 matter for the Prefect server.
#
#   docker build -f docker/worker-cpu.Dockerfile -t recloop/worker-cpu:0.1.0 .   # repo root
ARG PYTHON_IMAGE=python:3.11.7-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv \
    && pip install --no-cache-dir --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}"
COPY constraints.txt /tmp/constraints.txt
COPY pyproject.toml README.md /src/
COPY src /src/src
RUN pip install --no-cache-dir --constraint /tmp/constraints.txt /src

FROM ${PYTHON_IMAGE}
RUN groupadd --gid 10001 recloop \
    && useradd --uid 10001 --gid recloop --create-home --shell /usr/sbin/nologin recloop \
    && mkdir -p /data/recloop /data/prefect \
    && chown -R recloop:recloop /data
COPY --from=build /opt/venv /opt/venv
COPY --chown=recloop:recloop flows /opt/recloop/flows
COPY docker/entrypoint.sh /usr/local/bin/recloop-entrypoint
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    RECLOOP_HOME=/data/recloop \
    RECLOOP_PROJECT_DIR=/opt/recloop \
    RECLOOP_TRAIN__DEVICE=cpu \
    PREFECT_HOME=/data/prefect \
    PREFECT_SERVER_ANALYTICS_ENABLED=false \
    MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=false
USER 10001:10001
WORKDIR /opt/recloop
ENTRYPOINT ["recloop-entrypoint"]
CMD ["prefect", "worker", "start", "--pool", "recloop-process", "--type", "process"]
