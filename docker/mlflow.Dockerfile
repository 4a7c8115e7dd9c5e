# syntax=docker/dockerfile:1
# MLflow tracking server + model registry for recloop: PostgreSQL backend store, proxied
# artifacts (a volume, or S3-compatible storage through boto3). No recloop code inside.
# Configuration: the environment read by mlflow/mlflow-server.sh (its entrypoint).
#
#   docker build -f docker/mlflow.Dockerfile -t recloop/mlflow:3.17.2 .   # repo root
FROM python:3.11.7-slim-bookworm
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1
COPY constraints.txt /tmp/constraints.txt
RUN pip install --no-cache-dir --constraint /tmp/constraints.txt \
        "mlflow==3.17.2" "psycopg[binary]==3.3.9" "boto3==1.40.0" \
    && groupadd --gid 10001 mlflow \
    && useradd --uid 10001 --gid mlflow --create-home --shell /usr/sbin/nologin mlflow \
    && mkdir -p /mlartifacts \
    && chown mlflow:mlflow /mlartifacts
COPY mlflow/mlflow-server.sh /usr/local/bin/mlflow-server
ENV MLFLOW_ARTIFACTS_DESTINATION=/mlartifacts \
    MLFLOW_HOST=0.0.0.0 \
    MLFLOW_PORT=5000
USER 10001:10001
EXPOSE 5000
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=6 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5000/health', timeout=4)"]
ENTRYPOINT ["mlflow-server"]
