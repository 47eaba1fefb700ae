"""The supervisor's own resources: descriptors first.

A shortage in *this* process (EMFILE and its kin) says nothing about the health of a
child: a probe that cannot open a socket is inconclusive, and a spawn that cannot create
its pipes is retried after a backoff without counting as a crash. Before this, a flood of
idle connections to the control API made every health check fail, the restarts then failed
with "Too many open files" (taken as "cannot be started"), and healthy services went FATAL.
"""

from __future__ import annotations

import errno
import sys

from voice_sidecar.log import logger

log = logger.getChild("supervisor")

SHORTAGE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS, errno.EAGAIN})
# macOS refuses a soft limit above OPEN_MAX even when the hard limit is unlimited
_DARWIN_OPEN_MAX = 10240


class ProbeInconclusiveError(Exception):
    """A probe could not run because this process is short of a resource."""


def is_resource_shortage(error: BaseException) -> bool:
    """An OSError (or one that caused it) saying this process ran out of a resource."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ProbeInconclusiveError):
            return True
        if isinstance(current, OSError) and current.errno in SHORTAGE_ERRNOS:
            return True
        current = current.__cause__ or current.__context__
    return False


def raise_open_file_limit() -> tuple[int, int] | None:
    """Raise the soft descriptor limit to the hard one (POSIX); returns (before, after), or
    None where there is no such limit or nothing changed. Children inherit the new limit."""
    if sys.platform == "win32":
        return None
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard
    if sys.platform == "darwin":
        target = min(hard, _DARWIN_OPEN_MAX) if hard != resource.RLIM_INFINITY else _DARWIN_OPEN_MAX
    if target == resource.RLIM_INFINITY or (soft != resource.RLIM_INFINITY and soft >= target):
        return None
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (OSError, ValueError) as error:
        log.warning("could not raise the open-file limit from %d to %d: %s", soft, target, error)
        return None
    log.info("open-file limit raised from %d to %d", soft, target)
    return soft, target
