"""What every call of the typed clients carries: a deadline, metadata, trace context.

The clients (`AIClient`, `UsersClient`, `InferenceClient`) share one `CallSettings`:

    settings = CallSettings(timeout=5.0, metadata=(("x-api-key", key),))
    await stub.Method(request, **settings.call(deadline))

- a deadline: the call's own (`deadline`, in seconds) or the client's default
  (`DEFAULT_TIMEOUT` unless given; None for no default);
- the client's metadata, such as the AI API's `x-api-key`;
- W3C trace context (`traceparent`, `tracestate`, `baggage`) of the active span,
  written by the global OpenTelemetry propagator, when a span is active. With
  the gRPC client instrumentation on (`polymesh_common.telemetry`), its CLIENT
  span's context replaces it, so the server's span is the child of that span.

The `traceparent` sent keeps only the sampled flag, as OpenTelemetry Go writes it:
OpenTelemetry Python also sets the "random trace id" flag of W3C Trace Context
Level 2, and Level 1 receivers (OpenTelemetry Go 1.38, which the Go services use)
reject a version-00 `traceparent` with any flag but sampled, starting a new trace.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry import propagate, trace

__all__ = ["DEFAULT_TIMEOUT", "CallSettings", "trace_metadata"]

DEFAULT_TIMEOUT = 5.0
"""Seconds a call may take when neither the call nor the client says."""


def trace_metadata() -> list[tuple[str, str]]:
    """The active span's trace context as gRPC metadata; empty without a span."""
    if not trace.get_current_span().get_span_context().is_valid:
        return []
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return [
        (key, _level1(value) if key == "traceparent" else value)
        for key, value in ((k.lower(), v) for k, v in carrier.items())
    ]


def _level1(traceparent: str) -> str:
    """traceparent with its flags cut to the sampled bit (version 00 only)."""
    version, _, rest = traceparent.partition("-")
    ids, _, flags = rest.rpartition("-")
    if version != "00" or len(flags) != 2:
        return traceparent
    try:
        return f"00-{ids}-{int(flags, 16) & 0x01:02x}"
    except ValueError:
        return traceparent


class CallSettings:
    """The deadline and metadata of a client's calls."""

    def __init__(
        self, timeout: float | None = DEFAULT_TIMEOUT, metadata: Sequence[tuple[str, str]] = ()
    ) -> None:
        if timeout is not None and timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds or None, not {timeout!r}")
        self.timeout = timeout
        self.metadata = tuple((key.lower(), value) for key, value in metadata)

    def call(self, deadline: float | None = None) -> dict[str, Any]:
        """Keyword arguments of one stub call: `timeout` and `metadata`."""
        return {
            "timeout": self.timeout if deadline is None else deadline,
            "metadata": self.metadata + tuple(trace_metadata()),
        }
