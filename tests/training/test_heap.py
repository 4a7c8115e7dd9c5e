"""Inside heap_reuse, a freed training-sized block is reused without new page faults."""

from __future__ import annotations

import resource

import pytest
import torch

from recloop.training.heap import heap_reuse

BLOCK = 30_000_000  # floats: 120 MB, a MovieLens-1M score matrix's size


def _faults_of_one_step() -> int:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = torch.empty(BLOCK)
    block.fill_(1.0)  # touch every page
    del block
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def test_large_blocks_are_reused_inside_and_returned_after():
    pages = BLOCK * 4 // resource.getpagesize()
    assert _faults_of_one_step() > pages // 2  # outside: fresh pages every time
    with heap_reuse() as applied:
        if not applied:
            pytest.skip("not glibc, or the environment tunes malloc itself")
        # the heap settles within a few steps; after that a step maps nothing new
        steady = min(_faults_of_one_step() for _ in range(6))
    assert steady < pages // 20
    assert _faults_of_one_step() > pages // 2  # the defaults are back


def test_the_environment_tuning_glibc_turns_it_off(monkeypatch):
    monkeypatch.setenv("MALLOC_ARENA_MAX_", "2")
    with heap_reuse() as applied:
        assert not applied
