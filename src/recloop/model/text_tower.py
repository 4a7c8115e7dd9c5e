"""The trainable text side of the item tower (encoder modes ``lora`` and ``full``).

In these modes the encoder gets gradients. Re-encoding the whole catalog at every step
would cost the catalog size in encoder passes, so a step encodes only the items its batch
touches (inputs and targets) and takes every other item from the text bank, which is
refreshed from the encoder after each epoch. The softmax still covers the whole catalog.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from recloop.model.text import mean_pool


def wrap_lora(model: Any, *, r: int, alpha: int, dropout: float, targets: list[str]) -> Any:
    """Add LoRA adapters (peft); only the adapters train."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets, bias="none"
    )
    return get_peft_model(model, config)


def merged_encoder(model: Any) -> Any:
    """A plain transformers model (LoRA adapters merged in) for saving."""
    if hasattr(model, "merge_and_unload"):
        import copy

        return copy.deepcopy(model).merge_and_unload()
    return model


class ItemTextEncoder(nn.Module):
    """Encodes catalog items by model index from pre-tokenised texts (row 0: padding)."""

    def __init__(self, encoder: nn.Module, tokenizer: Any, texts: list[str], max_tokens: int):
        super().__init__()
        self.encoder = encoder
        batch = tokenizer(
            ["[pad]", *texts],
            padding=True,
            truncation=True,
            max_length=max_tokens,
            return_tensors="pt",
        )
        self.register_buffer("input_ids", batch["input_ids"], persistent=False)
        self.register_buffer("attention_mask", batch["attention_mask"], persistent=False)
        extra = {k: v for k, v in batch.items() if k not in ("input_ids", "attention_mask")}
        self.register_buffer(
            "token_type_ids",
            extra.get("token_type_ids", torch.zeros_like(batch["input_ids"])),
            persistent=False,
        )

    def forward(self, indices: torch.Tensor) -> torch.Tensor:
        """L2-normalised, mean-pooled embeddings (len(indices), hidden) with gradients."""
        mask = self.attention_mask[indices]
        width = int(mask.sum(1).max().item()) if len(indices) else 1
        mask = mask[:, :width]
        out = self.encoder(
            input_ids=self.input_ids[indices, :width],
            attention_mask=mask,
            token_type_ids=self.token_type_ids[indices, :width],
        )
        return F.normalize(mean_pool(out.last_hidden_state, mask).float(), dim=-1)

    @torch.no_grad()
    def encode_all(self, batch_size: int) -> torch.Tensor:
        """Embeddings of every catalog item (rows 1..n), without gradients."""
        was_training = self.training
        self.eval()
        n = self.input_ids.shape[0]
        index = torch.arange(1, n, device=self.input_ids.device)
        chunks = [self(index[i : i + batch_size]) for i in range(0, len(index), batch_size)]
        self.train(was_training)
        return torch.cat(chunks)
