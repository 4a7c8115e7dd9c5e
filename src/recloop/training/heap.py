"""Let the epoch loop reuse its large freed blocks instead of asking the kernel again (glibc).

A training step on the CPU allocates a few (targets x catalogue) score matrices (115 MB each
on MovieLens-1M) and frees them before the next step. glibc serves blocks that large with
``mmap`` and returns them with ``munmap``, so every step maps fresh pages and takes a page
fault on each 4 KiB of them: measured at about a sixth of a MovieLens-1M step on 2 cores.
Inside :func:`heap_reuse` large blocks come from the heap and freed ones stay there for the
next step; on leaving, glibc's defaults are back and ``malloc_trim`` hands the free heap
back to the kernel. This is what jemalloc or tcmalloc (``LD_PRELOAD``), the usual advice
for PyTorch on the CPU, buy for this loop, without a preload.

It does nothing on other C libraries, or when the environment already tunes glibc's
allocator (``MALLOC_*_`` variables or ``GLIBC_TUNABLES``): the operator's choice stands.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
from collections.abc import Iterator

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
# glibc's documented defaults, restored on leaving (mallopt cannot read the current value)
_DEFAULT_MMAP_MAX = 65536
_DEFAULT_TRIM_THRESHOLD = 128 * 1024
_KEEP_FREED = 2**31 - 1  # mallopt takes an int: keep up to 2 GiB of free heap


def _glibc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    if "GLIBC_TUNABLES" in os.environ or any(
        k.startswith("MALLOC_") and k.endswith("_") for k in os.environ
    ):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


@contextlib.contextmanager
def heap_reuse() -> Iterator[bool]:
    """Within the block, glibc keeps large freed blocks for reuse; yields whether it applied."""
    libc = _glibc()
    if libc is None:
        yield False
        return
    libc.mallopt(_M_MMAP_MAX, 0)
    libc.mallopt(_M_TRIM_THRESHOLD, _KEEP_FREED)
    try:
        yield True
    finally:
        libc.mallopt(_M_MMAP_MAX, _DEFAULT_MMAP_MAX)
        libc.mallopt(_M_TRIM_THRESHOLD, _DEFAULT_TRIM_THRESHOLD)
        libc.malloc_trim(0)
