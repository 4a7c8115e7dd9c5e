# syntax=docker/dockerfile:1
# recloop GPU worker: CUDA runtime + cuDNN, torch built for CUDA, recloop and its flows,
# non-root. It polls a Prefect work pool and runs each flow run (training on the GPU) as a
# subprocess; compose.yaml reserves the GPU for it. The same image is the default of the
# Docker and Kubernetes work-pool templates in docker/workpools/.
#
#   docker build -f docker/worker-gpu.Dockerfile -t recloop/worker-gpu:0.1.0 .   # repo root
# Pick the torch CUDA build that matches the host driver: TORCH_INDEX_URL=.../whl/cu126 etc.
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

FROM ${CUDA_IMAGE} AS build
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
# Ubuntu's python3.12 moves with security updates; a version pin would break rebuilds.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/venv \
    && pip install --no-cache-dir --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}"
COPY constraints.txt /tmp/constraints.txt
COPY pyproject.toml README.md /src/
COPY src /src/src
RUN pip install --no-cache-dir --constraint /tmp/constraints.txt /src

FROM ${CUDA_IMAGE}
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 recloop \
    && useradd --uid 10001 --gid recloop --create-home --shell /usr/sbin/nologin recloop \
    && mkdir -p /data/recloop /data/prefect \
    && chown -R recloop:recloop /data
COPY --from=build /opt/venv /opt/venv
COPY --chown=recloop:recloop flows /opt/recloop/flows
COPY docker/entrypoint.sh /usr/local/bin/recloop-entrypoint
COPY --chown=recloop:recloop docker/accelerate /opt/recloop/accelerate
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    RECLOOP_HOME=/data/recloop \
    RECLOOP_PROJECT_DIR=/opt/recloop \
    RECLOOP_TRAIN__DEVICE=cuda \
    PREFECT_HOME=/data/prefect \
    MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=false \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
USER 10001:10001
WORKDIR /opt/recloop
ENTRYPOINT ["recloop-entrypoint"]
CMD ["prefect", "worker", "start", "--pool", "recloop-process", "--type", "process"]
