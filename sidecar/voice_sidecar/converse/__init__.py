"""Room-less conversations over audio files: the offline smoke test and benchmark harness."""
