import logging

logger = logging.getLogger("voice_sidecar")
