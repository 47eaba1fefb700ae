"""``voice-sidecar bench``: the latency benchmark over the real converse pipeline."""
