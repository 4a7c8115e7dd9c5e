"""recloop: continual retraining for language-model-based recommenders."""

__version__ = "0.1.0"
