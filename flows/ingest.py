"""Deployment entry point of the ingest flow; the flow ships with the library:
``recloop.loop.flows.ingest_flow``. Run once without a server::

    python flows/ingest.py path/to/items.csv path/to/events-0001.csv
"""

import sys

from recloop.loop.flows import ingest_flow

__all__ = ["ingest_flow"]

if __name__ == "__main__":
    ingest_flow(sys.argv[1:] or None)  # no arguments: whatever waits in the inbox
