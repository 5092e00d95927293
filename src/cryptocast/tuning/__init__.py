"""The plan's tuning stages: candidate configs, sweeps, ensembles and the selection."""
