"""Build tooling: freezing the sidecar for the desktop app and release builds (not shipped)."""
