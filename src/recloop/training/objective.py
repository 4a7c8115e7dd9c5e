"""Next-item prediction loss with a full softmax over the catalog, and validation scoring."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from recloop.evaluation.metrics import relevance_per_case
from recloop.model.inputs import left_pad
from recloop.model.network import RecommenderNet
from recloop.model.text_tower import ItemTextEncoder
from recloop.training.prepare import ValidationCase

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
        losses = F.cross_entropy(logits, targets[keep] - 1, reduction="none")
        w = weights[keep]
        return (losses * w).sum() / w.sum().clamp(min=1e-9)


@torch.no_grad()
def validation_scores(
    net: RecommenderNet, cases: list[ValidationCase], *, batch_size: int = 256
) -> tuple[np.ndarray, float]:
    """Scores (n_cases, n_items) with history items masked, and the mean validation loss.

    The loss is the cross-entropy of each case's targets over the unmasked catalog, so it
    is comparable between epochs; the masked scores feed the ranking metrics.
    """
    net.eval()
    device = net.text_bank.device
    vectors = net.item_vectors()
    all_scores, losses = [], []
    for start in range(0, len(cases), batch_size):
        chunk = cases[start : start + batch_size]
        seqs = torch.as_tensor(
            left_pad([c.history for c in chunk], net.config.max_len), device=device
        )
        scen = torch.as_tensor([c.scenario for c in chunk], device=device)
        states = net.user_states(seqs, vectors, scen)[:, -1]
        logits = net.logits(states, vectors).float()
        log_probs = torch.log_softmax(logits, dim=-1)
        for row, case in enumerate(chunk):
            losses.append(-log_probs[row, torch.as_tensor(case.targets - 1, device=device)].mean())
        scores = logits.cpu().numpy()
        for row, case in enumerate(chunk):
            scores[row, case.history - 1] = -np.inf
        all_scores.append(scores)
    net.train()
    if not all_scores:
        return np.zeros((0, net.config.n_items), dtype=np.float32), float("nan")
    return np.concatenate(all_scores), float(torch.stack(losses).mean())


def ranking_metrics(scores: np.ndarray, cases: list[ValidationCase], k: int) -> dict[str, float]:
    """Recall@k and NDCG@k of masked scores (evaluation's metric definitions)."""

    top = np.argsort(-scores, axis=1, kind="stable")[:, :k] + 1
    per_case = relevance_per_case(top, [c.targets for c in cases])
    return {
        f"ndcg@{k}": float(per_case["ndcg"].mean()),
        f"recall@{k}": float(per_case["recall"].mean()),
    }
