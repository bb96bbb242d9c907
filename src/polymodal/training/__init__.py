"""Training: the loop (trainer.py), its options (config.py), recipes, warm starts and the training log."""
