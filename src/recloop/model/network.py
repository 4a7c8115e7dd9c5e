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

import functools
import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
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
        self.input_dropout = ByteDropout(config.dropout)
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
        for block in self.user_encoder.layers:  # the layers' own dropouts, made cheap on CPU
            for name in ("dropout", "dropout1", "dropout2"):
                setattr(block, name, ByteDropout(config.dropout))
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
        x, pad = self._embed(sequences, item_vectors)
        length = x.shape[1]
        allowed = _allowed_keys(pad)
        for layer in self.user_encoder.layers:
            x = _pre_norm_layer(layer, x, allowed)
        states = self.final_norm(x)
        if scenarios is not None:
            if scenarios.dim() == 2:
                states = states + self.scenario_embedding(scenarios[:, -length:])
            else:
                states = states + self.scenario_embedding(scenarios).unsqueeze(1)
        return states

    def last_states(
        self,
        sequences: torch.Tensor,
        item_vectors: torch.Tensor,
        scenarios: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``user_states(...)[:, -1]`` (B, d) at a fraction of the cost: what scoring needs.

        Every layer but the last must run over all positions (they are the last layer's
        keys and values), but the last layer is needed for the final query only: one
        query over the keys, one feed-forward row per user. The layers' arithmetic is
        written out (``_pre_norm_layer``) so attention goes through
        ``scaled_dot_product_attention`` with one mask shared by the heads; the encoder's
        own fast path materialises a float mask per head and took up to twice as long on
        long histories (200 events). ``scenarios``: (B,) or (B, L) (its last column is read).
        """
        x, pad = self._embed(sequences, item_vectors)
        allowed = _allowed_keys(pad)
        *below, top = self.user_encoder.layers
        for layer in below:
            x = _pre_norm_layer(layer, x, allowed)
        states = self.final_norm(_pre_norm_layer(top, x, allowed, last_only=True)[:, -1])
        if scenarios is not None:
            states = states + self.scenario_embedding(
                scenarios[:, -1] if scenarios.dim() == 2 else scenarios
            )
        return states

    def _embed(
        self, sequences: torch.Tensor, item_vectors: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoder input (B, L, d) of the last ``max_len`` columns and their padding (B, L)."""
        length = sequences.shape[1]
        if length > self.config.max_len:
            sequences = sequences[:, -self.config.max_len :]
            length = self.config.max_len
        pad = sequences == 0
        positions = torch.arange(length - 1, -1, -1, device=sequences.device)
        x = item_vectors[sequences] * math.sqrt(self.config.hidden_dim)
        x = x + self.position_embedding(positions).unsqueeze(0)
        return self.input_dropout(x) * (~pad).unsqueeze(-1), pad

    def logits(
        self, states: torch.Tensor, item_vectors: torch.Tensor, out: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Scores of every catalog item (padding column dropped): (..., n_items).

        ``out`` (B, n_items), e.g. a view of the caller's result array, receives the scores
        without an intermediate (B, n_items) tensor and copy: what full-catalog scoring of
        many users spends its memory bandwidth on.
        """
        if out is None:
            scores = states @ item_vectors[1:].T
            # No division at temperature 1: on a (targets x catalog) training matrix the
            # division and its backward pass were a tenth of a MovieLens-1M step.
            return scores if self.config.temperature == 1.0 else scores / self.config.temperature
        torch.matmul(states, item_vectors[1:].T, out=out)
        if self.config.temperature != 1.0:
            out /= self.config.temperature
        return out


def _pre_norm_layer(
    layer: nn.TransformerEncoderLayer,
    x: torch.Tensor,
    allowed: torch.Tensor,
    *,
    last_only: bool = False,
) -> torch.Tensor:
    """``layer(x, src_mask=...)`` of a ``norm_first`` encoder layer, written out.

    ``allowed`` (B, 1, L, L) is True where a query may attend. ``last_only``: only the
    last position's output (B, 1, d), whose query still attends over every position.
    Dropouts act as the layer's own (no-ops in eval mode).
    """
    attn = layer.self_attn
    batch, length, dim = x.shape
    heads = attn.num_heads
    h = layer.norm1(x)
    weight, bias = attn.in_proj_weight, attn.in_proj_bias
    if last_only:
        x, allowed = x[:, -1:], allowed[:, :, -1:]
        q = F.linear(h[:, -1:], weight[:dim], bias[:dim])
        kv = F.linear(h, weight[dim:], bias[dim:])
    else:
        qkv = F.linear(h, weight, bias)
        q, kv = qkv[..., :dim], qkv[..., dim:]
    q = q.reshape(batch, -1, heads, dim // heads).transpose(1, 2)
    k, v = kv.reshape(batch, length, 2, heads, dim // heads).permute(2, 0, 3, 1, 4)
    if layer.training and attn.dropout > 0 and q.device.type == "cpu":
        # Written out so the attention weights' dropout draws random bytes (ByteDropout):
        # SDPA's own dropout samples one Bernoulli per weight, the largest single cost of a
        # training step on CPU at 200 events (B x heads x L x L weights per layer).
        scores = (q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)
        weights = torch.softmax(scores.masked_fill_(~allowed, -torch.inf), dim=-1)
        attended = byte_dropout(weights, attn.dropout) @ v
    else:
        attended = F.scaled_dot_product_attention(
            q, k, v, attn_mask=allowed, dropout_p=attn.dropout if layer.training else 0.0
        )
    attended = attn.out_proj(attended.transpose(1, 2).reshape(batch, -1, dim))
    x = x + layer.dropout1(attended)
    ff = layer.linear2(layer.dropout(layer.activation(layer.linear1(layer.norm2(x)))))
    return x + layer.dropout2(ff)


@functools.lru_cache(maxsize=64)
def _causal_blocked(length: int, device: torch.device) -> torch.Tensor:
    """(L, L) bool: keys after each query (built once per length, not per batch)."""
    return torch.triu(torch.ones(length, length, dtype=torch.bool, device=device), diagonal=1)


@functools.lru_cache(maxsize=64)
def _diagonal(length: int, device: torch.device) -> torch.Tensor:
    """(L, L) bool: each query's own position."""
    return torch.eye(length, dtype=torch.bool, device=device)


def _allowed_keys(pad: torch.Tensor) -> torch.Tensor:
    """(B, 1, L, L) bool, True where a query may attend: causal, no padding keys, and a
    position always sees itself, so a padded row is never fully masked (NaN weights).
    One mask shared by the heads."""
    length = pad.shape[1]
    allowed = ~(_causal_blocked(length, pad.device) | pad.unsqueeze(1))
    return (allowed | _diagonal(length, pad.device)).unsqueeze(1)


class ByteDropout(nn.Dropout):
    """``nn.Dropout`` whose mask on the CPU comes from random bytes: see :func:`byte_dropout`.

    On other devices it is ``nn.Dropout`` itself (their Bernoulli sampling is fast).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if x.device.type != "cpu":
            return F.dropout(x, self.p, True, self.inplace)
        return byte_dropout(x, self.p)


# Keep probabilities are resolved to 1/65536: dropout p is exact to within 0.00001.
_LEVELS = 1 << 16


def byte_dropout(x: torch.Tensor, p: float) -> torch.Tensor:
    """Inverted dropout (zero with probability ``p``, scale the rest by ``1 / (1 - p)``).

    The mask compares 16-bit integers cut from 64-bit random draws with a threshold: one
    generator call per four elements instead of one Bernoulli sample per element, and
    the masking is one pass each way (:class:`_MaskedScale`); 4x faster than
    ``F.dropout`` on the CPU (torch 2.13, 2 threads). Seeded by torch's generator like
    ``nn.Dropout``; the drop probability is ``round(p * 65536) / 65536``.
    """
    n = x.numel()
    draws = torch.randint(-(2**63), 2**63 - 1, ((n + 3) // 4,), dtype=torch.int64, device=x.device)
    halves = draws.view(torch.int16)[:n].view(x.shape)
    drop = halves < round(p * _LEVELS) - _LEVELS // 2
    return _MaskedScale.apply(x, drop, 1.0 / (1.0 - p))


class _MaskedScale(torch.autograd.Function):
    """``x`` with ``drop`` zeroed and the rest times ``scale``; the backward does the same
    to the gradient. Saves only the boolean mask."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, drop: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.save_for_backward(drop)
        ctx.scale = scale
        return x.masked_fill(drop, 0).mul_(scale)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (drop,) = ctx.saved_tensors
        return grad.masked_fill(drop, 0).mul_(ctx.scale), None, None
