"""The network and its item text: item tower (HF encoder + projection, optional id embedding),
user tower (causal transformer). ``catalog_text_embeddings`` gives cached text embeddings of a
catalog (used by evaluation for intra-list diversity)."""

from recloop.model.text import catalog_text_embeddings, item_texts

__all__ = ["catalog_text_embeddings", "item_texts"]
