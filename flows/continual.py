"""Deployment entry point of the continual loop (``flows/prefect.yaml``: continual-daily,
full-retrain-weekly). The flow ships with the library: ``recloop.loop.flows.continual``.

Run once, without a server (Prefect starts a temporary API):
    python flows/continual.py path/to/batch.csv
As scheduled deployments:
    prefect --no-prompt deploy --all --prefect-file flows/prefect.yaml
    prefect worker start --pool recloop-process
"""

import sys

from recloop.loop.flows import continual

__all__ = ["continual"]

if __name__ == "__main__":
    print(continual(paths=sys.argv[1:] or None))
