"""Pretraining and fine-tuning of the model families."""
