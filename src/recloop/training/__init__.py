"""Training: windows, the epoch loop, checkpoints and calibration; a model directory out.

It knows neither MLflow nor the registry (``recloop.loop.train`` opens the run and
registers the result); ``trainer.train_recommender`` is the entry point.
"""
