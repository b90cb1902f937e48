"""A user's own model factory, dataset loader and training loop, outside the dynsearch package."""
