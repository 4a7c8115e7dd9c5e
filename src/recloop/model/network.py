"""The recommender network: item tower over text embeddings, causal user tower.

Item index 0 is padding; catalog item ``i`` (in the model's ``item_ids`` order) is row
``i + 1`` everywhere. An item's vector is ``proj(text embedding) + id embedding``; the id
part is multiplied by a "seen in training" mask, so an item that never appeared in
training is represented by its text alone (cold start) instead of by an untrained id row.

The user tower is a pre-norm causal transformer (SASRec-like) over the item vectors of the
most recent ``max_len`` events plus a position embedding counted from the newest event (so
left padding and history length do not shift what "most recent" means) and a scenario
embedding (index 0: no scenario). Its state at each position predicts the next item by a
dot product with every item vector (full softmax over the catalog).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
from torch import nn


@dataclass
class NetConfig:
    """Shapes and switches of the network; saved as JSON next to the weights."""

    n_items: int
    text_dim: int
    hidden_dim: int = 64
    num_heads: int = 2
    num_layers: int = 2
    max_len: int = 200
    dropout: float = 0.3
    hybrid: bool = True
    use_text: bool = True  # False: an id-only model (an ablation: no cold start)
    temperature: float = 1.0
    scenarios: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> NetConfig:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


class RecommenderNet(nn.Module):
    """Item tower (projection + optional id embedding) and causal user tower."""

    def __init__(self, config: NetConfig, text_embeddings: torch.Tensor | None = None) -> None:
        super().__init__()
        if not (config.use_text or config.hybrid):
            raise ValueError("an item tower needs text (use_text) or id embeddings (hybrid)")
        self.config = config
        d, n = config.hidden_dim, config.n_items
        bank = torch.zeros(n + 1, config.text_dim)
        if text_embeddings is not None:
            bank[1:] = torch.as_tensor(text_embeddings, dtype=torch.float32)
        self.register_buffer("text_bank", bank)
        self.register_buffer("seen_mask", torch.zeros(n + 1))
        self.text_proj = nn.Linear(config.text_dim, d)
        self.id_embedding = nn.Embedding(n + 1, d, padding_idx=0) if config.hybrid else None
        if self.id_embedding is not None:
            nn.init.normal_(self.id_embedding.weight, std=0.02)
            with torch.no_grad():
                self.id_embedding.weight[0].zero_()
        self.position_embedding = nn.Embedding(config.max_len, d)
        self.scenario_embedding = nn.Embedding(len(config.scenarios) + 1, d)
        nn.init.zeros_(self.scenario_embedding.weight)
        self.input_dropout = nn.Dropout(config.dropout)
        layer = nn.TransformerEncoderLayer(
            d_model=d,
            nhead=config.num_heads,
            dim_feedforward=d * 4,
            dropout=config.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.user_encoder = nn.TransformerEncoder(
            layer, config.num_layers, enable_nested_tensor=False
        )
        self.final_norm = nn.LayerNorm(d)

    def item_vectors(
        self, text_bank: torch.Tensor | None = None, id_keep: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Vectors of all items (row 0 padding), from ``text_bank`` or the stored bank.

        ``id_keep`` (n_items + 1,) optionally zeroes the id part of some items (id dropout
        in training), so the text path alone learns to rank items, as it must for new ones.
        """
        bank = self.text_bank if text_bank is None else text_bank
        if self.config.use_text:
            vectors = self.text_proj(bank)
        else:  # id-only: the text path contributes nothing
            vectors = bank.new_zeros(bank.shape[0], self.config.hidden_dim)
        if self.id_embedding is not None:
            mask = self.seen_mask if id_keep is None else self.seen_mask * id_keep
            vectors = vectors + self.id_embedding.weight * mask.unsqueeze(-1)
        return vectors

    def user_states(
        self,
        sequences: torch.Tensor,
        item_vectors: torch.Tensor,
        scenarios: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """States (B, L, d) for left-padded item-index sequences (B, L).

        ``scenarios`` (B, L) or (B,) names the scenario each state predicts for (the
        scenario of the next event); it is added to the state, so a scenario shifts which
        items score high without another forward pass.
        """
        _batch, length = sequences.shape
        if length > self.config.max_len:
            sequences = sequences[:, -self.config.max_len :]
            length = self.config.max_len
        pad = sequences == 0
        positions = torch.arange(length - 1, -1, -1, device=sequences.device)
        x = item_vectors[sequences] * math.sqrt(self.config.hidden_dim)
        x = x + self.position_embedding(positions).unsqueeze(0)
        x = self.input_dropout(x) * (~pad).unsqueeze(-1)
        mask = _attention_mask(pad, self.config.num_heads)
        states = self.final_norm(self.user_encoder(x, mask=mask))
        if scenarios is not None:
            if scenarios.dim() == 2:
                states = states + self.scenario_embedding(scenarios[:, -length:])
            else:
                states = states + self.scenario_embedding(scenarios).unsqueeze(1)
        return states

    def logits(self, states: torch.Tensor, item_vectors: torch.Tensor) -> torch.Tensor:
        """Scores of every catalog item (padding column dropped): (..., n_items)."""
        return states @ item_vectors[1:].T / self.config.temperature


def _attention_mask(pad: torch.Tensor, num_heads: int) -> torch.Tensor:
    """Causal mask that also hides padding keys; a position always sees itself.

    Letting every query see itself keeps padded rows from being fully masked, which
    would give NaN attention weights.
    """
    length = pad.shape[1]
    causal = torch.triu(torch.ones(length, length, dtype=torch.bool, device=pad.device), diagonal=1)
    blocked = causal.unsqueeze(0) | pad.unsqueeze(1)
    eye = torch.eye(length, dtype=torch.bool, device=pad.device).unsqueeze(0)
    blocked = blocked & ~eye
    return blocked.repeat_interleave(num_heads, dim=0)
