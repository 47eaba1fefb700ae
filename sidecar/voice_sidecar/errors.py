"""Errors that end a command with one line a user can act on."""


class UserFacingError(Exception):
    """A problem the user can fix; ``str(error)`` is the whole message.

    The message says what went wrong and what to do about it, on one line,
    and never contains a secret.
    """

    exit_code = 2


class AudioFileError(UserFacingError):
    """An input file is missing, unreadable or holds no audio."""


class ModelNotFoundError(UserFacingError):
    """A speech model is neither installed nor a valid path."""


class ModelLoadError(UserFacingError):
    """A speech model exists but cannot be loaded (corrupt or incomplete files)."""


class PersonaError(UserFacingError):
    """A persona or session request is malformed."""


class AssistantBusyError(UserFacingError):
    """The agent worker holds as many conversations as it takes (``worker.max_conversations``):
    livekit-server would drop the room's dispatch, and no agent would ever join."""


class LLMUnreachableError(UserFacingError):
    """The language model endpoint cannot be reached or refuses us."""

    exit_code = 3


class ModelDownloadError(UserFacingError):
    """A model could not be fetched (network, server, mirror or offline setting)."""

    exit_code = 4


class ModelOfflineError(ModelDownloadError):
    """A model is missing and the offline setting forbids fetching it."""


class ModelIntegrityError(ModelDownloadError):
    """Fetched bytes do not match the published hash; nothing was installed."""


class DiskFullError(ModelDownloadError):
    """Not enough free space for a model; nothing partial is left behind."""
