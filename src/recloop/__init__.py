"""recloop: continual retraining for language-model-based recommenders."""

import os as _os

__version__ = "0.1.0"

# OpenMP worker threads (torch's and MKL's) spin while they wait for work unless told
# otherwise. Where other processes share the cores (recloop's own MLflow and Prefect
# servers, the database, other jobs), a spinning thread holds a core the thread with work
# needs, and every parallel operation waits for a time slice: at load 4-5 on 2 cores this
# made full-catalog evaluation about 6x and training steps about 3x slower than one
# thread. Passive threads sleep instead; on an idle machine that costs a wake-up per
# parallel operation (microseconds). The runtime reads this when torch is first imported,
# so it holds for every process that imports recloop before torch; an explicit value wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
