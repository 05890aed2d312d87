"""The settings every typed client's calls share."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from polymesh_client.calls import DEFAULT_TIMEOUT, CallSettings, trace_metadata


def test_deadline_and_metadata() -> None:
    settings = CallSettings(metadata=(("X-Api-Key", "k"),))
    assert settings.call() == {"timeout": DEFAULT_TIMEOUT, "metadata": (("x-api-key", "k"),)}
    assert settings.call(2.0)["timeout"] == 2.0
    assert CallSettings(timeout=None).call()["timeout"] is None
    with pytest.raises(ValueError, match="timeout"):
        CallSettings(timeout=0)


def test_trace_context_only_inside_a_span() -> None:
    assert trace_metadata() == []
    with TracerProvider().get_tracer("t").start_as_current_span("root") as span:
        context = span.get_span_context()
        metadata = dict(CallSettings().call()["metadata"])
    # Only the sampled flag, whatever else the SDK set.
    assert metadata["traceparent"] == f"00-{context.trace_id:032x}-{context.span_id:016x}-01"
    assert not trace.get_current_span().get_span_context().is_valid
