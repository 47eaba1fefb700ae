"""The loopback HTTP API the desktop app drives the sidecar with."""
