"""LiveKit Agents plugins for the local speech models."""
