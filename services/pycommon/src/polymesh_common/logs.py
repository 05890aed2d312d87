"""Structured (JSON lines) logging with the current trace and span ids.

Usage::

    setup_logging("polymesh-inference")
    log = logging.getLogger(__name__)
    log.info("model loaded", extra={"model": "iris", "version": "1"})

prints, on stderr, one JSON object per record::

    {"time": "2025-01-01T12:00:00.000Z", "level": "INFO", "service": "polymesh-inference",
     "logger": "polymesh_inference.repository", "message": "model loaded",
     "trace_id": "…", "span_id": "…", "model": "iris", "version": "1"}

``trace_id`` and ``span_id`` are those of the span current where the record is
made (absent outside a span). Fields passed with ``extra`` become top-level keys.
The level comes from ``POLYMESH_LOG_LEVEL`` (default INFO).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Any, TextIO

from opentelemetry import trace

__all__ = ["JsonFormatter", "setup_logging"]

# Attributes every LogRecord has; anything else was passed with `extra`.
_STANDARD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys() | {"message", "asctime", "taskName"}
)


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object on one line."""

    def __init__(self, service: str | None = None) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _iso_time(record.created),
            "level": record.levelname,
        }
        if self._service:
            entry["service"] = self._service
        entry["logger"] = record.name
        entry["message"] = record.getMessage()
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            entry["trace_id"] = trace.format_trace_id(context.trace_id)
            entry["span_id"] = trace.format_span_id(context.span_id)
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def _iso_time(created: float) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{seconds}.{int(created % 1 * 1000):03d}Z"


def setup_logging(service: str | None = None, stream: TextIO | None = None) -> None:
    """Sends every log record of the process, as JSON lines, to stream (stderr)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(os.environ.get("POLYMESH_LOG_LEVEL", "INFO").upper())
