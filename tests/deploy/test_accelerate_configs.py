"""``accelerate`` configs for multi-GPU and multi-node fine-tuning load with accelerate itself."""

from __future__ import annotations

from pathlib import Path

import pytest

CONFIGS = Path(__file__).resolve().parents[2] / "docker" / "accelerate"


@pytest.mark.parametrize(
    ("name", "machines", "processes"), [("multi-gpu", 1, 4), ("multi-node", 2, 16)]
)
def test_config_loads_as_a_cluster_config(name, machines, processes):
    from accelerate.commands.config.config_args import ClusterConfig, load_config_from_file
    from accelerate.utils import DistributedType

    config = load_config_from_file(str(CONFIGS / f"{name}.yaml"))
    assert isinstance(config, ClusterConfig)
    assert config.distributed_type == DistributedType.MULTI_GPU
    assert (config.num_machines, config.num_processes) == (machines, processes)
    assert config.mixed_precision == "bf16" and not config.use_cpu
    if machines > 1:
        assert config.main_process_ip and config.main_process_port
