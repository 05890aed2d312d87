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


class ModelNotFound(InferenceError):
    """No such model, or no such version of it."""

    def __init__(self, name: str, version: str = "") -> None:
        if version:
            super().__init__(f"model {name!r} version {version!r} not found")
        else:
            super().__init__(f"model {name!r} not found")


class ModelNotReady(InferenceError):
    """The model exists but cannot serve (it failed to load)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"model {name!r} is not ready")


class InvalidInput(InferenceError):
    """A request's inputs or requested outputs do not fit the model."""


class ModelExecutionError(InferenceError):
    """The model raised while running; the cause is logged, not sent."""

    def __init__(self, name: str) -> None:
        super().__init__(f"model {name!r} failed while running inference")


class RepositoryError(Exception):
    """The model repository, or a model in it, is unusable (a setup error)."""


# The one table from error type to gRPC status code. Looked up along the
# exception's MRO, so a subclass inherits its parent's code.
STATUS_CODES: dict[type[BaseException], grpc.StatusCode] = {
    ModelNotFound: grpc.StatusCode.NOT_FOUND,
    ModelNotReady: grpc.StatusCode.UNAVAILABLE,
    InvalidInput: grpc.StatusCode.INVALID_ARGUMENT,
    ModelExecutionError: grpc.StatusCode.INTERNAL,
}

INTERNAL_MESSAGE = "internal error"


def to_status(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """Returns the status code and message a client gets for exc."""
    for cls in type(exc).__mro__:
        code = STATUS_CODES.get(cls)
        if code is not None:
            return code, str(exc)
    return grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE
