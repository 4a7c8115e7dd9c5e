"""Next-item prediction loss with a full softmax over the catalog, and validation scoring."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from recloop.evaluation.harness import top_k_columns
from recloop.evaluation.metrics import relevance_per_case
from recloop.model.inputs import left_pad
from recloop.model.network import RecommenderNet
from recloop.model.text_tower import ItemTextEncoder
from recloop.training.prepare import ValidationCase
from recloop.training.softmax_loss import weighted_softmax_cross_entropy

VALIDATION_K = 10  # validation ranks the top 10 (early stopping, new-item calibration)


class NextItemObjective(nn.Module):
    """Wraps the network (and, in lora/full modes, the text encoder) into one loss module.

    One module is what ``accelerate`` prepares (DDP on several GPUs), so the encoder's
    and the towers' gradients are synchronised together.
    """

    def __init__(
        self,
        net: RecommenderNet,
        text_encoder: ItemTextEncoder | None = None,
        id_dropout: float = 0.0,
    ):
        super().__init__()
        self.net = net
        self.text_encoder = text_encoder
        self.id_dropout = id_dropout

    def current_text_bank(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The stored bank, with the batch's items re-encoded (with gradients) when tuning."""
        bank = self.net.text_bank
        if self.text_encoder is None:
            return bank
        touched = torch.unique(torch.cat([inputs.flatten(), targets.flatten()]))
        touched = touched[touched > 0]
        fresh = self.text_encoder(touched).to(bank.dtype)
        return bank.index_copy(0, touched, fresh)

    def forward(
        self,
        inputs: torch.Tensor,
        targets: torch.Tensor,
        weights: torch.Tensor,
        scenarios: torch.Tensor,
    ) -> torch.Tensor:
        """Weighted mean cross-entropy of every real target position."""
        first = int((inputs > 0).any(0).to(torch.int8).argmax())  # drop all-padding columns
        inputs, targets, weights, scenarios = (
            t[:, first:] for t in (inputs, targets, weights, scenarios)
        )
        id_keep = None
        if self.training and self.id_dropout > 0:
            id_keep = (
                torch.rand(self.net.seen_mask.shape, device=inputs.device) >= self.id_dropout
            ).float()
        vectors = self.net.item_vectors(self.current_text_bank(inputs, targets), id_keep)
        states = self.net.user_states(inputs, vectors, scenarios)
        keep = targets > 0
        logits = self.net.logits(states[keep], vectors).float()
        return weighted_softmax_cross_entropy(logits, targets[keep] - 1, weights[keep])


@dataclass
class ValidationRanking:
    """What validation needs from a pass over its cases, without an (n_cases, n_items) matrix.

    Attributes:
        top: per bonus, ``(n_cases, k)`` 1-based item indices ranked best first (history
            masked; ties to the lower index; ``-1`` pads when fewer than k items remain).
        loss: mean over cases of the cross-entropy of their targets (unmasked catalog).
    """

    top: dict[float, np.ndarray]
    loss: float


# (case rows) -> (len(rows), n_items) bool: items that get the bonus for those cases
BonusItems = Callable[[np.ndarray], np.ndarray]


@torch.no_grad()
def validation_ranking(
    net: RecommenderNet,
    cases: list[ValidationCase],
    k: int = VALIDATION_K,
    *,
    bonuses: Sequence[float] = (0.0,),
    bonus_items: BonusItems | None = None,
    batch_size: int = 256,
) -> ValidationRanking:
    """Rank the catalog for every case, a batch at a time, for each score ``bonus``.

    Memory is one batch of scores (``batch_size x n_items``), never all cases: masks,
    losses and top-k are array operations on the batch. ``bonus_items`` says which items
    get each bonus (new-item calibration); without it only the plain ranking is useful.
    Leaves the network in training mode.
    """
    net.eval()
    top = {float(b): np.full((len(cases), k), -1, dtype=np.int64) for b in bonuses}
    loss_sum = 0.0
    for rows, logits, losses in _validation_batches(net, cases, batch_size, by_length=True):
        loss_sum += float(losses.double().sum())
        scores = logits.numpy()
        extra = None if bonus_items is None else bonus_items(rows)
        for bonus, ranked in top.items():
            shifted = scores if not bonus or extra is None else scores + bonus * extra
            columns = top_k_columns(shifted, k)
            ranked[rows] = np.where(columns >= 0, columns + 1, -1)
    net.train()
    return ValidationRanking(top, loss_sum / len(cases) if cases else float("nan"))


def _validation_batches(
    net: RecommenderNet, cases: list[ValidationCase], batch_size: int, *, by_length: bool
):
    """(case rows, masked logits (b, n_items) float32 on the CPU, per-case losses (b,)).

    ``by_length`` batches cases of similar history length together (each batch is padded
    to its longest history); otherwise cases come in order.
    """
    device = net.text_bank.device
    vectors = net.item_vectors()
    order = np.arange(len(cases))
    if by_length:
        order = np.argsort([len(c.history) for c in cases], kind="stable")
    for start in range(0, len(cases), batch_size):
        rows = order[start : start + batch_size]
        chunk = [cases[r] for r in rows]
        seqs = torch.as_tensor(
            left_pad([c.history for c in chunk], net.config.max_len), device=device
        )
        scen = torch.as_tensor([c.scenario for c in chunk], device=device)
        states = net.last_states(seqs, vectors, scen)
        logits = net.logits(states, vectors).float()
        log_probs = torch.log_softmax(logits, dim=-1)
        at, columns = _ragged_cells([c.targets for c in chunk], device)
        counts = torch.bincount(at, minlength=len(chunk)).to(log_probs.dtype)
        total = torch.zeros(len(chunk), dtype=log_probs.dtype, device=device)
        total.index_add_(0, at, -log_probs[at, columns])
        at, columns = _ragged_cells([c.history for c in chunk], device)
        logits[at, columns] = -torch.inf  # history items are not recommended
        yield rows, logits.cpu(), (total / counts).cpu()


def _ragged_cells(parts: list[np.ndarray], device) -> tuple[torch.Tensor, torch.Tensor]:
    """(row, column) of each 1-based item index of each row's list, as tensors."""
    lengths = [len(p) for p in parts]
    rows = np.repeat(np.arange(len(parts), dtype=np.int64), lengths)
    flat = np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)
    return torch.as_tensor(rows, device=device), torch.as_tensor(flat - 1, device=device)


def top_k_metrics(top: np.ndarray, cases: list[ValidationCase], k: int) -> dict[str, float]:
    """Recall@k and NDCG@k of ranked 1-based indices (evaluation's metric definitions)."""
    per_case = relevance_per_case(top[:, :k], [c.targets for c in cases])
    return {
        f"ndcg@{k}": float(per_case["ndcg"].mean()),
        f"recall@{k}": float(per_case["recall"].mean()),
    }


def validation_metrics(
    net: RecommenderNet, cases: list[ValidationCase], k: int = VALIDATION_K
) -> dict[str, float]:
    """``loss``, ``ndcg@k`` and ``recall@k`` of the network on validation cases."""
    ranking = validation_ranking(net, cases, k)
    return {"loss": ranking.loss, **top_k_metrics(ranking.top[0.0], cases, k)}


@torch.no_grad()
def validation_scores(
    net: RecommenderNet, cases: list[ValidationCase], *, batch_size: int = 256
) -> tuple[np.ndarray, float]:
    """Scores (n_cases, n_items) with history items masked, and the mean validation loss.

    Holds every case's scores at once: for small case sets and tests only; training
    validates with :func:`validation_ranking`, whose memory is one batch.
    """
    net.eval()
    parts, loss_sum = [], 0.0
    for _rows, logits, losses in _validation_batches(net, cases, batch_size, by_length=False):
        parts.append(logits.numpy())
        loss_sum += float(losses.double().sum())
    net.train()
    if not parts:
        return np.zeros((0, net.config.n_items), dtype=np.float32), float("nan")
    return np.concatenate(parts), loss_sum / len(cases)


def ranking_metrics(scores: np.ndarray, cases: list[ValidationCase], k: int) -> dict[str, float]:
    """Recall@k and NDCG@k of masked scores (evaluation's metric definitions)."""
    columns = np.full((len(cases), k), -1, dtype=np.int64)
    for start in range(0, len(cases), 1024):  # top-k a block at a time: no full argsort
        columns[start : start + 1024] = top_k_columns(scores[start : start + 1024], k)
    return top_k_metrics(np.where(columns >= 0, columns + 1, -1), cases, k)
