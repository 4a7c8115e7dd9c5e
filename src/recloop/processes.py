"""Whether a recorded process still runs: the one rule the ingest log and training share.

A batch being ingested and a training run both record their owner (pid and the process's
start time); a later process decides from it whether the owner died. The start time tells a
pid the OS has since given to a newer process apart from the owner.
"""

from __future__ import annotations


def process_alive(pid: int, started: float) -> bool:
    """True if process ``pid`` exists on this host, is not a zombie, and started at ``started``.

    Start times are compared to within a second: they are rounded differently across calls
    on some systems. A process that exists but belongs to another user counts as alive (it
    may be the owner; we cannot tell).
    """
    import psutil  # only the callers that check owners pay for it

    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return abs(process.create_time() - started) < 1.0
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.AccessDenied:
        return True
