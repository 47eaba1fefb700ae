"""Finding speech models on disk (downloads live in their own module)."""
