-- Runs once, when the PostgreSQL volume is first initialised (docker-entrypoint-initdb.d).
-- POSTGRES_DB (recloop) holds the event store; MLflow and Prefect get their own databases,
-- owned by the same role, so each can be backed up and restored on its own.
CREATE DATABASE mlflow OWNER recloop;
CREATE DATABASE prefect OWNER recloop;
