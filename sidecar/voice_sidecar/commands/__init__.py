"""One module per CLI command; each receives typed settings from the entry point."""
