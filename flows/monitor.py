"""Deployment entry point of the drift monitor (``flows/prefect.yaml``: drift-monitor-hourly);
the flow ships with the library: ``recloop.loop.flows.monitor``. Run once with
``python flows/monitor.py`` (a temporary Prefect API starts when none is configured).
"""

from recloop.loop.flows import monitor

__all__ = ["monitor"]

if __name__ == "__main__":
    monitor()
