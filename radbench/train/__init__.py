"""Training one cell: augmentation, batches, fit with best-val-loss weights, test predictions."""
