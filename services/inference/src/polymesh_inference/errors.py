"""The errors the data plane raises, and the one table mapping them to gRPC codes.

Every error a client may see is an InferenceError whose message is written for
the client. Anything else raised while serving a call is a bug or a model
failure: it is logged with its traceback and answered INTERNAL with a generic
message, never with the exception's own text.
"""

from __future__ import annotations

import grpc


class InferenceError(Exception):
    """Base of the errors whose message is meant for the client."""

    kind: str = "internal"
    """A short name of the error's kind, the `kind` label of the errors metric."""


class ModelNotFound(InferenceError):
    """No such model, or no such version of it."""

    kind = "model_not_found"

    def __init__(self, name: str, version: str = "") -> None:
        if version:
            super().__init__(f"model {name!r} version {version!r} not found")
        else:
            super().__init__(f"model {name!r} not found")


class RepositoryNotFound(InferenceError):
    """A repository request names another repository than the server's one."""

    kind = "repository_not_found"

    def __init__(self, name: str) -> None:
        super().__init__(f"repository {name!r} not found")


class ModelNotReady(InferenceError):
    """The model's folder is known but no version of it serves: it was unloaded,
    it failed to load, or it was never loaded. NOT_FOUND, as Triton answers
    ("... has no available versions"): retrying will not help, loading will."""

    kind = "model_not_ready"

    def __init__(self, name: str, reason: str = "") -> None:
        message = f"model {name!r} has no available versions"
        super().__init__(f"{message} ({reason})" if reason else message)


class InvalidInput(InferenceError):
    """A request's inputs or requested outputs do not fit the model."""

    kind = "invalid_input"


class InvalidParameter(InferenceError):
    """A request names a parameter the server does not support, or gives it a
    value of the wrong type."""

    kind = "invalid_parameter"


class ModelLoadError(InferenceError):
    """A model folder could not be loaded; the message gives the reason, with
    paths relative to the repository. A version loaded before keeps serving."""

    kind = "model_load_failed"

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"failed to load model {name!r}: {reason}")


class ModelExecutionError(InferenceError):
    """The model raised while running; the cause is logged, not sent."""

    kind = "model_failed"

    def __init__(self, name: str) -> None:
        super().__init__(f"model {name!r} failed while running inference")


class WorkerLost(InferenceError):
    """The worker process running a model exited (it crashed or was killed)
    before answering; a new worker replaces it."""

    kind = "worker_lost"

    def __init__(self, name: str) -> None:
        super().__init__(f"model {name!r}: its worker process exited while running inference")


class RepositoryError(Exception):
    """The model repository, or a model in it, is unusable (a setup error)."""


# The one table from error type to gRPC status code. Looked up along the
# exception's MRO, so a subclass inherits its parent's code.
STATUS_CODES: dict[type[BaseException], grpc.StatusCode] = {
    ModelNotFound: grpc.StatusCode.NOT_FOUND,
    RepositoryNotFound: grpc.StatusCode.NOT_FOUND,
    ModelNotReady: grpc.StatusCode.NOT_FOUND,
    InvalidInput: grpc.StatusCode.INVALID_ARGUMENT,
    InvalidParameter: grpc.StatusCode.INVALID_ARGUMENT,
    ModelLoadError: grpc.StatusCode.INTERNAL,
    ModelExecutionError: grpc.StatusCode.INTERNAL,
    WorkerLost: grpc.StatusCode.INTERNAL,
}

INTERNAL_MESSAGE = "internal error"


def to_status(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """Returns the status code and message a client gets for exc."""
    for cls in type(exc).__mro__:
        code = STATUS_CODES.get(cls)
        if code is not None:
            return code, str(exc)
    return grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE


def error_kind(exc: BaseException) -> str:
    """The kind label of exc in the errors metric ("internal" for a bug)."""
    return exc.kind if isinstance(exc, InferenceError) else InferenceError.kind
