"""OpenTelemetry tracing for polymesh's Python processes.

Everything is configured from the standard environment variables:
``OTEL_EXPORTER_OTLP_ENDPOINT`` (and the other ``OTEL_EXPORTER_OTLP_*``
settings), ``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``,
``OTEL_TRACES_SAMPLER``/``OTEL_TRACES_SAMPLER_ARG``, ``OTEL_TRACES_EXPORTER``
(``otlp``, the default, ``console`` or ``none``) and
``OTEL_SEMCONV_STABILITY_OPT_IN``.

gRPC spans come from opentelemetry-instrumentation-grpc, which emits only the
old RPC conventions (``rpc.system``, ``rpc.service``, short ``rpc.method``,
integer ``rpc.grpc.status_code``). The small interceptors below sit right
inside it and, as ``OTEL_SEMCONV_STABILITY_OPT_IN`` asks, add the new ones
(``rpc.system.name``, fully-qualified ``rpc.method``, string
``rpc.response.status_code``, ``server.address``/``server.port`` on CLIENT
spans), name spans ``package.Service/Method`` and fix the status of SERVER
spans whose handler raised. Health checks are not traced.

Usage::

    provider = setup_tracing("polymesh-inference")
    instrument_grpc_server()          # every grpc.aio.server() is traced
    instrument_grpc_client()          # every grpc.aio channel is traced
    ...
    provider.shutdown()               # flushes the spans still buffered

or, without patching grpc, pass ``server_interceptors()`` to
``grpc.aio.server(interceptors=...)`` and ``client_interceptors(target)`` to
``grpc.aio.insecure_channel(target, interceptors=...)``.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import os
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import grpc
import grpc.aio
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.instrumentation.grpc import aio_client_interceptors, aio_server_interceptor
from opentelemetry.instrumentation.grpc.filters import health_check, negate
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import CarrierT, Setter, default_setter
from opentelemetry.sdk.resources import SERVICE_NAME, OTELResourceDetector, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.trace.status import Status, StatusCode

__all__ = [
    "SERVER_ERROR_CODES",
    "SampledFlagTraceContextPropagator",
    "SemconvMode",
    "client_interceptors",
    "instrument_grpc_client",
    "instrument_grpc_server",
    "sampled_flag_only",
    "semconv_mode",
    "server_interceptors",
    "setup_tracing",
]

# Old (pre-2025) RPC attribute names.
RPC_SYSTEM = "rpc.system"
RPC_SERVICE = "rpc.service"
RPC_METHOD = "rpc.method"
RPC_GRPC_STATUS_CODE = "rpc.grpc.status_code"
# New (2025) RPC attribute names.
RPC_SYSTEM_NAME = "rpc.system.name"
RPC_RESPONSE_STATUS_CODE = "rpc.response.status_code"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"

# Codes for which a SERVER span is an error; a CLIENT span is one for any
# code but OK.
SERVER_ERROR_CODES = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)

_OPT_IN_ENV = "OTEL_SEMCONV_STABILITY_OPT_IN"


class SemconvMode(enum.Enum):
    """Which RPC conventions spans carry (from OTEL_SEMCONV_STABILITY_OPT_IN)."""

    OLD = "old"
    """Only the old attributes (the variable does not mention rpc)."""
    NEW = "new"
    """Only the new attributes (``rpc``)."""
    DUP = "dup"
    """Both; where a name is shared (``rpc.method``) the new value wins (``rpc/dup``)."""

    @property
    def emits_old(self) -> bool:
        return self is not SemconvMode.NEW

    @property
    def emits_new(self) -> bool:
        return self is not SemconvMode.OLD


def semconv_mode(value: str | None = None) -> SemconvMode:
    """Parses OTEL_SEMCONV_STABILITY_OPT_IN (the environment's unless given)."""
    if value is None:
        value = os.environ.get(_OPT_IN_ENV, "")
    tokens = {t.strip() for t in value.split(",")}
    if "rpc/dup" in tokens:
        return SemconvMode.DUP
    if "rpc" in tokens:
        return SemconvMode.NEW
    return SemconvMode.OLD


# --- provider ----------------------------------------------------------------


def _exporter_from_env() -> SpanExporter | None:
    names = [n.strip() for n in os.environ.get("OTEL_TRACES_EXPORTER", "otlp").split(",")]
    for name in names:
        if name == "otlp":
            # Imported here: it pulls in the gRPC exporter stack.
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                OTLPSpanExporter,
            )

            return OTLPSpanExporter()
        if name == "console":
            return ConsoleSpanExporter()
    return None


def setup_tracing(
    default_service_name: str,
    *,
    exporter: SpanExporter | None = None,
    set_global: bool = True,
) -> TracerProvider:
    """Creates the process's tracer provider from the OTEL_* environment.

    Args:
        default_service_name: ``service.name`` when neither OTEL_SERVICE_NAME
            nor OTEL_RESOURCE_ATTRIBUTES names one.
        exporter: exports spans instead of the one OTEL_TRACES_EXPORTER names
            (OTLP/gRPC by default); tests pass an in-memory exporter.
        set_global: also install the provider and the W3C propagators
            (``traceparent``/``tracestate`` and ``baggage``) process-wide.

    Returns:
        The provider; its ``shutdown()`` flushes the spans still buffered.
    """
    from_env = OTELResourceDetector().detect()
    if from_env.attributes.get(SERVICE_NAME):
        resource = Resource.create()
    else:
        resource = Resource.create({SERVICE_NAME: default_service_name})
    # With no sampler argument the provider reads OTEL_TRACES_SAMPLER(_ARG).
    provider = TracerProvider(resource=resource)
    if exporter is None:
        exporter = _exporter_from_env()
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    if set_global:
        trace.set_tracer_provider(provider)
        propagate.set_global_textmap(
            CompositePropagator([SampledFlagTraceContextPropagator(), W3CBaggagePropagator()])
        )
    return provider


class SampledFlagTraceContextPropagator(TraceContextTextMapPropagator):
    """W3C trace context that writes only the sampled flag in ``traceparent``.

    OpenTelemetry Python sets the Level 2 "random" flag (``03``) on the trace
    ids it makes; OpenTelemetry Go before 1.40 rejects a version-00
    ``traceparent`` with a flag above ``02`` and starts a new trace, so a Go
    service called directly by a Python one would lose the trace. Keeping
    only the sampled bit is what Go and C++ write themselves.
    """

    def inject(
        self,
        carrier: CarrierT,
        context: otel_context.Context | None = None,
        setter: Setter[CarrierT] = default_setter,
    ) -> None:
        written: dict[str, str] = {}
        super().inject(written, context)
        for key, value in written.items():
            setter.set(carrier, key, sampled_flag_only(value) if key == "traceparent" else value)


def sampled_flag_only(traceparent: str) -> str:
    """``traceparent`` with its flags cut to the sampled bit (version 00 only)."""
    parts = traceparent.split("-")
    if len(parts) != 4 or parts[0] != "00" or len(parts[3]) != 2:
        return traceparent
    try:
        flags = int(parts[3], 16) & 0x01
    except ValueError:
        return traceparent
    return "-".join([*parts[:3], f"{flags:02x}"])


# --- the semconv hook ----------------------------------------------------------


def _method_name(method: str | bytes) -> str:
    if isinstance(method, bytes):
        method = method.decode()
    return method.lstrip("/")


def _is_rpc_span(span: trace.Span, full_method: str, kind: trace.SpanKind) -> bool:
    """True if span is the instrumentation's span of this call (not a parent)."""
    if not span.is_recording():
        return False
    name = getattr(span, "name", None)
    return getattr(span, "kind", None) == kind and name in (full_method, "/" + full_method)


def _on_rpc_start(span: trace.Span, full_method: str, mode: SemconvMode) -> None:
    span.update_name(full_method)
    if mode.emits_new:
        span.set_attribute(RPC_SYSTEM_NAME, "grpc")
        span.set_attribute(RPC_METHOD, full_method)
    if not mode.emits_old:
        _drop_attributes(span, (RPC_SYSTEM, RPC_SERVICE, RPC_GRPC_STATUS_CODE))


def _on_rpc_end(span: trace.Span, code: grpc.StatusCode, mode: SemconvMode) -> None:
    if mode.emits_old:
        span.set_attribute(RPC_GRPC_STATUS_CODE, code.value[0])
    else:
        _drop_attributes(span, (RPC_GRPC_STATUS_CODE,))
    if mode.emits_new:
        span.set_attribute(RPC_RESPONSE_STATUS_CODE, code.name)


def _drop_attributes(span: trace.Span, keys: Sequence[str]) -> None:
    # The API has no way to remove an attribute; the SDK span keeps them in a
    # mapping that allows it until the span ends.
    attributes = getattr(span, "_attributes", None)
    for key in keys:
        try:
            del attributes[key]  # type: ignore[index]
        except (KeyError, TypeError):
            pass


def _server_code(context: grpc.aio.ServicerContext, default: grpc.StatusCode) -> grpc.StatusCode:
    try:
        code = context.code()
    except Exception:  # not every context implements code()
        code = None
    if isinstance(code, grpc.StatusCode):
        return code
    if isinstance(code, int):
        for candidate in grpc.StatusCode:
            if candidate.value[0] == code:
                return candidate
    return default


class _SemconvServerInterceptor(grpc.aio.ServerInterceptor):
    """Adds the new RPC attributes to the SERVER span of the interceptor outside it."""

    def __init__(self, mode: SemconvMode, filter_: Callable[[Any], bool] | None) -> None:
        self._mode = mode
        self._filter = filter_

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None or (self._filter is not None and not self._filter(handler_call_details)):
            return handler
        full_method = _method_name(handler_call_details.method)
        return _wrap_handler(handler, self._wrap_unary, self._wrap_stream, full_method)

    def _finish(self, span: trace.Span, code: grpc.StatusCode) -> None:
        _on_rpc_end(span, code, self._mode)
        if code in SERVER_ERROR_CODES:
            span.set_status(Status(StatusCode.ERROR, f"{code.name}"))

    def _wrap_unary(self, behavior, full_method: str):
        async def unary(request, context):
            span = trace.get_current_span()
            if not _is_rpc_span(span, full_method, trace.SpanKind.SERVER):
                return await _maybe_await(behavior(request, context))
            _on_rpc_start(span, full_method, self._mode)
            code = grpc.StatusCode.UNKNOWN
            try:
                response = await _maybe_await(behavior(request, context))
                code = _server_code(context, grpc.StatusCode.OK)
                return response
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED
                raise
            except BaseException:
                code = _server_code(context, grpc.StatusCode.UNKNOWN)
                raise
            finally:
                self._finish(span, code)

        return unary

    def _wrap_stream(self, behavior, full_method: str):
        async def stream(request, context):
            span = trace.get_current_span()
            traced = _is_rpc_span(span, full_method, trace.SpanKind.SERVER)
            if traced:
                _on_rpc_start(span, full_method, self._mode)
            code = grpc.StatusCode.UNKNOWN
            try:
                result = behavior(request, context)
                if hasattr(result, "__aiter__"):
                    async for response in result:
                        yield response
                else:
                    await _maybe_await(result)
                code = _server_code(context, grpc.StatusCode.OK)
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED
                raise
            except BaseException:
                code = _server_code(context, grpc.StatusCode.UNKNOWN)
                raise
            finally:
                if traced:
                    self._finish(span, code)

        return stream


async def _maybe_await(value):
    if inspect.isawaitable(value):
        return await value
    return value


def _wrap_handler(handler, wrap_unary, wrap_stream, full_method: str):
    """Returns handler with its behavior wrapped (unary or streaming response)."""
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(
            wrap_stream(handler.stream_stream, full_method),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(
            wrap_unary(handler.stream_unary, full_method),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(
            wrap_stream(handler.unary_stream, full_method),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    return grpc.unary_unary_rpc_method_handler(
        wrap_unary(handler.unary_unary, full_method),
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def parse_target(target: str) -> tuple[str | None, int | None]:
    """Returns (server.address, server.port) of a gRPC target string."""
    if target.startswith("unix:"):
        return target[len("unix:") :], None
    rest = target
    for scheme in ("dns:///", "dns:", "ipv4:", "ipv6:", "passthrough:///"):
        if rest.startswith(scheme):
            rest = rest[len(scheme) :]
            break
    rest = rest.split(",")[0]
    if rest.startswith("["):
        host, _, tail = rest[1:].partition("]")
        port = tail.lstrip(":")
    elif rest.count(":") == 1:
        host, _, port = rest.partition(":")
    else:
        host, port = rest, ""
    return (host or None), (int(port) if port.isdigit() else None)


class _SemconvClientInterceptor:
    """Adds the new RPC attributes to the CLIENT span of the interceptor outside it."""

    def __init__(self, target: str | None, mode: SemconvMode) -> None:
        self._address, self._port = parse_target(target) if target else (None, None)
        self._mode = mode

    def _start(self, details) -> trace.Span | None:
        full_method = _method_name(details.method)
        span = trace.get_current_span()
        if not _is_rpc_span(span, full_method, trace.SpanKind.CLIENT):
            return None
        _on_rpc_start(span, full_method, self._mode)
        if self._address is not None:
            span.set_attribute(SERVER_ADDRESS, self._address)
        if self._port is not None:
            span.set_attribute(SERVER_PORT, self._port)
        return span

    async def _unary_response(self, span, call):
        code = await call.code()
        _on_rpc_end(span, code, self._mode)
        return call

    async def _stream_response(self, span, call) -> AsyncIterator[Any]:
        code = grpc.StatusCode.UNKNOWN
        try:
            async for response in call:
                yield response
            code = await call.code()
        except grpc.aio.AioRpcError as err:
            code = err.code()
            raise
        except asyncio.CancelledError:
            code = grpc.StatusCode.CANCELLED
            raise
        finally:
            _on_rpc_end(span, code, self._mode)


class _UnaryUnary(_SemconvClientInterceptor, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation, client_call_details, request):
        span = self._start(client_call_details)
        call = await continuation(client_call_details, request)
        return call if span is None else await self._unary_response(span, call)


class _StreamUnary(_SemconvClientInterceptor, grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(self, continuation, client_call_details, request_iterator):
        span = self._start(client_call_details)
        call = await continuation(client_call_details, request_iterator)
        return call if span is None else await self._unary_response(span, call)


class _UnaryStream(_SemconvClientInterceptor, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation, client_call_details, request):
        span = self._start(client_call_details)
        call = await continuation(client_call_details, request)
        return call if span is None else self._stream_response(span, call)


class _StreamStream(_SemconvClientInterceptor, grpc.aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(self, continuation, client_call_details, request_iterator):
        span = self._start(client_call_details)
        call = await continuation(client_call_details, request_iterator)
        return call if span is None else self._stream_response(span, call)


# --- interceptors and instrumentation -----------------------------------------

_NOT_HEALTH = negate(health_check())


def server_interceptors(
    tracer_provider: trace.TracerProvider | None = None,
    mode: SemconvMode | None = None,
) -> list[grpc.aio.ServerInterceptor]:
    """Interceptors that trace a grpc.aio server (put them first in the list)."""
    mode = semconv_mode() if mode is None else mode
    return [
        aio_server_interceptor(tracer_provider=tracer_provider, filter_=_NOT_HEALTH),
        _SemconvServerInterceptor(mode, _NOT_HEALTH),
    ]


def client_interceptors(
    target: str | None = None,
    tracer_provider: trace.TracerProvider | None = None,
    mode: SemconvMode | None = None,
) -> list[grpc.aio.ClientInterceptor]:
    """Interceptors that trace a grpc.aio channel to target (put them first)."""
    mode = semconv_mode() if mode is None else mode
    return [
        *aio_client_interceptors(tracer_provider=tracer_provider, filter_=_NOT_HEALTH),
        _UnaryUnary(target, mode),
        _UnaryStream(target, mode),
        _StreamUnary(target, mode),
        _StreamStream(target, mode),
    ]


_originals: dict[str, Any] = {}


def instrument_grpc_server(tracer_provider: trace.TracerProvider | None = None) -> None:
    """Makes every later ``grpc.aio.server()`` traced. Idempotent."""
    if "server" in _originals:
        return
    original = _originals["server"] = grpc.aio.server

    def server(*args, **kwargs):
        interceptors = list(kwargs.get("interceptors") or ())
        kwargs["interceptors"] = server_interceptors(tracer_provider) + interceptors
        return original(*args, **kwargs)

    grpc.aio.server = server


def instrument_grpc_client(tracer_provider: trace.TracerProvider | None = None) -> None:
    """Makes every later grpc.aio channel traced. Idempotent."""
    if "insecure_channel" in _originals:
        return
    for name in ("insecure_channel", "secure_channel"):
        original = _originals[name] = getattr(grpc.aio, name)

        def channel(target, *args, _original=original, **kwargs):
            interceptors = list(kwargs.get("interceptors") or ())
            kwargs["interceptors"] = client_interceptors(target, tracer_provider) + interceptors
            return _original(target, *args, **kwargs)

        setattr(grpc.aio, name, channel)


def uninstrument_grpc() -> None:
    """Undoes instrument_grpc_server and instrument_grpc_client."""
    for name, original in _originals.items():
        setattr(grpc.aio, "server" if name == "server" else name, original)
    _originals.clear()
