"""Structured (JSON lines) logging in the one shape every polymesh process
writes (the C++ gateway and the Go services too).

Usage::

    setup_logging("polymesh-inference")
    log = logging.getLogger(__name__)
    log.info("model loaded", extra={"model": "iris", "version": "1"})

prints, on stderr, one compact JSON object per record (wrapped here)::

    {"time":"2026-12-07T16:55:00.123456Z","severity":"INFO","body":"model loaded",
     "service.name":"polymesh-inference","trace_id":"…","span_id":"…",
     "model":"iris","version":"1"}

``time`` is RFC 3339 in UTC with microseconds; ``severity`` is OpenTelemetry's
SeverityText (DEBUG, INFO, WARN, ERROR, FATAL; Python's WARNING is WARN and
CRITICAL is FATAL); ``body`` is the formatted message; ``service.name`` is
OTEL_SERVICE_NAME, else the name the service gives. ``trace_id`` and
``span_id`` (32 and 16 lowercase hex digits) are those of the valid span
current where the record is made, and absent outside one. Fields passed with
``extra`` follow as top-level keys (one named like a key above is dropped),
then ``exception`` for a record with exception info. The level comes from
``POLYMESH_LOG_LEVEL`` (default INFO).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from opentelemetry import trace

__all__ = ["KEYS", "JsonFormatter", "service_name", "setup_logging", "severity"]

KEYS = ("time", "severity", "body", "service.name", "trace_id", "span_id")
"""The keys of the shape itself, in order; trace_id and span_id only inside a span."""

DEFAULT_SERVICE_NAME = "unknown_service"
"""service.name when neither OTEL_SERVICE_NAME nor the service names one."""

# Attributes every LogRecord has; anything else was passed with `extra`.
_STANDARD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys() | {"message", "asctime", "taskName"}
)


def severity(levelno: int) -> str:
    """OpenTelemetry's SeverityText of a logging level."""
    if levelno < logging.INFO:
        return "DEBUG"
    if levelno < logging.WARNING:
        return "INFO"
    if levelno < logging.ERROR:
        return "WARN"
    if levelno < logging.CRITICAL:
        return "ERROR"
    return "FATAL"


def service_name(default: str | None = None) -> str:
    """OTEL_SERVICE_NAME, else default, else "unknown_service"."""
    return os.environ.get("OTEL_SERVICE_NAME") or default or DEFAULT_SERVICE_NAME


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object on one line."""

    def __init__(self, service: str | None = None) -> None:
        """service is the service.name of every line ("unknown_service" if None)."""
        super().__init__()
        self._service = service or DEFAULT_SERVICE_NAME

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _rfc3339(record.created),
            "severity": severity(record.levelno),
            "body": record.getMessage(),
            "service.name": self._service,
        }
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            entry["trace_id"] = trace.format_trace_id(context.trace_id)
            entry["span_id"] = trace.format_span_id(context.span_id)
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_") and key not in KEYS:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, separators=(",", ":"))


def _rfc3339(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def setup_logging(service: str | None = None, stream: TextIO | None = None) -> None:
    """Sends every log record of the process, as JSON lines, to stream
    (stderr); service.name is OTEL_SERVICE_NAME, else service."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(service_name(service)))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(os.environ.get("POLYMESH_LOG_LEVEL", "INFO").upper())
