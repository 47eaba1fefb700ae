"""Process-wide environment the sidecar needs before heavy libraries load."""

import os

# Set before onnxruntime is imported: it otherwise makes telemetry DNS lookups.
_PROCESS_DEFAULTS = {
    "ORT_DISABLE_TELEMETRY": "1",
    # Hub downloads at run time would leak the fact that speech is being processed.
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
}


def apply_process_defaults() -> None:
    for name, value in _PROCESS_DEFAULTS.items():
        os.environ.setdefault(name, value)
