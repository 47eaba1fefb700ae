"""Process supervision: start, probe, restart and stop child services as whole trees.

- ``Supervisor`` (``manager.py``) runs ``ServiceSpec``s (``spec.py``) and reports
  ``ServiceEvent``s (``events.py``); its clock and spawner can be replaced.
- ``decisions.py`` holds the pure restart/backoff/crash-loop rules.
- ``process.py``, ``tree.py``, ``_posix.py`` and ``_windows.py`` are the OS side.
- ``instance.py`` guards against a second instance; ``parent_watch.py`` lets a
  process exit when its parent dies or its stdin closes.
"""

from voice_sidecar.supervisor.clock import Clock, SystemClock
from voice_sidecar.supervisor.decisions import backoff_delay, decide_restart
from voice_sidecar.supervisor.events import ServiceEvent, ServiceState, ServiceStatus
from voice_sidecar.supervisor.instance import (
    InstanceFile,
    InstanceRecord,
    InstanceRunningError,
)
from voice_sidecar.supervisor.manager import Supervisor, SupervisorStartError
from voice_sidecar.supervisor.parent_watch import ExitReason, stdin_is_pipe, watch_parent
from voice_sidecar.supervisor.probes import http_probe, http_status, tcp_probe
from voice_sidecar.supervisor.process import ProcessSpawner
from voice_sidecar.supervisor.spawner import ChildProcess, Spawner
from voice_sidecar.supervisor.spec import Probe, RestartPolicy, ServiceSpec

__all__ = [
    "ChildProcess",
    "Clock",
    "ExitReason",
    "InstanceFile",
    "InstanceRecord",
    "InstanceRunningError",
    "Probe",
    "ProcessSpawner",
    "RestartPolicy",
    "ServiceEvent",
    "ServiceSpec",
    "ServiceState",
    "ServiceStatus",
    "Spawner",
    "Supervisor",
    "SupervisorStartError",
    "SystemClock",
    "backoff_delay",
    "decide_restart",
    "http_probe",
    "http_status",
    "stdin_is_pipe",
    "tcp_probe",
    "watch_parent",
]
