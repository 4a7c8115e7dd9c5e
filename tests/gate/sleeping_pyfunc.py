"""Models-from-code pyfunc for the gate tests: the real recloop pyfunc, made slow.

Logged with ``python_model=<this file>``; artifact ``inner`` is a downloaded recloop pyfunc
and ``model_config["delay_seconds"]`` the pause added to every request. It answers exactly
what the real model answers, only later, so the gate can reject it for latency alone.
"""

from __future__ import annotations

import time

import mlflow


class SleepingRecommender(mlflow.pyfunc.PythonModel):
    """Delegates to the wrapped pyfunc after sleeping ``delay_seconds``."""

    def load_context(self, context):
        self.inner = mlflow.pyfunc.load_model(context.artifacts["inner"])
        self.delay = float((context.model_config or {}).get("delay_seconds", 0.5))

    def predict(self, context, model_input, params=None):
        time.sleep(self.delay)
        return self.inner.predict(model_input, params=params)


mlflow.models.set_model(SleepingRecommender())
