"""Warm start from a parent model: copy its weights into a network with a grown id space.

Every tensor whose first dimension is the item vocabulary (text bank, seen mask, id
embedding) keeps the parent's rows at the same indices, since the vocabulary puts the
parent's items first; new items get their own text and a fresh id row that stays masked
until the item is seen in training. Everything else is copied as it is. The user tower has
no per-user parameters, so new users need no growth at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from recloop.errors import UnusableInputError
from recloop.model.artifacts import ENCODER_DIR, load_items, load_net
from recloop.model.network import RecommenderNet


@dataclass
class Parent:
    """A trained model to fine-tune from."""

    model_dir: Path
    net: RecommenderNet
    config: dict[str, Any]
    items: pd.DataFrame

    @property
    def seen(self) -> np.ndarray:
        return self.net.seen_mask[1:].numpy() > 0

    @property
    def scenarios(self) -> list[str]:
        return list(self.config["net"].get("scenarios", []))

    @property
    def encoder_name(self) -> str:
        """The tuned encoder saved with the parent, else the encoder it was built on."""
        tuned = self.model_dir / ENCODER_DIR
        return str(tuned) if tuned.exists() else self.config["text"]["encoder_name"]


def load_parent(model_dir: Path) -> Parent:
    """Read a parent model directory."""
    net, config = load_net(model_dir)
    return Parent(Path(model_dir), net, config, load_items(model_dir))


def grow_into(net: RecommenderNet, parent: RecommenderNet) -> None:
    """Copy ``parent``'s weights into ``net`` (same shapes, or a larger item vocabulary)."""
    own = net.state_dict()
    n_parent = parent.config.n_items + 1
    with torch.no_grad():
        for name, value in parent.state_dict().items():
            if name not in own:
                continue
            target = own[name]
            if target.shape == value.shape:
                target.copy_(value)
            elif target.shape[1:] == value.shape[1:] and target.shape[0] >= n_parent:
                if name == "text_bank":
                    continue  # the new bank already holds current text for all items
                target[:n_parent].copy_(value)
            else:
                raise UnusableInputError(
                    f"parent model does not fit: {name} is {tuple(value.shape)}, "
                    f"expected {tuple(target.shape)} (different network settings?)"
                )
