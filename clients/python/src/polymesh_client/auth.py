"""How a client proves who it is to the gateway: an API key on every call,
TLS with the mesh's CA, and a client certificate for mTLS.

    async with aio_channel("127.0.0.1:8443", api_key="polymesh-demo-key",
                           ca_file=".run/tls/ca.crt") as channel:
        ai = AIClient(channel)                   # every call carries the key

    channel = aio_channel("127.0.0.1:8443", ca_file=".run/tls/ca.crt",
                          cert_file=".run/tls/operator.crt",
                          key_file=".run/tls/operator.key")   # mTLS, no key

    channel = with_api_key(grpc.insecure_channel("127.0.0.1:8080"), key)  # sync

The gateway checks the key (`x-api-key`) or the certificate on every route
that says who may call it, and removes the key before the call goes on.
`add_arguments` and `channel_from_args` give command-line tools the same
flags: `--api-key`, `--ca-file`, `--cert`, `--key`.
"""

from __future__ import annotations

import argparse
import collections
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc
import grpc.aio

__all__ = [
    "API_KEY_ENV",
    "API_KEY_HEADER",
    "DEMO_KEY",
    "OPERATOR_KEY",
    "add_arguments",
    "aio_channel",
    "api_key_interceptors",
    "api_key_metadata",
    "channel_from_args",
    "tls_credentials",
    "with_api_key",
]

API_KEY_HEADER = "x-api-key"
"""The metadata key the gateway (and aiapi on its own) reads the key from."""

API_KEY_ENV = "POLYMESH_API_KEY"
"""The environment variable command-line tools take their key from."""

DEMO_KEY = "polymesh-demo-key"
"""The demo meshes' key for the public APIs (deploy/auth/api-keys.yaml)."""

OPERATOR_KEY = "polymesh-operator-key"
"""The demo meshes' key for the operator routes (the inference tier)."""


def api_key_metadata(key: str | None) -> tuple[tuple[str, str], ...]:
    """The metadata that carries `key`; none without a key."""
    return ((API_KEY_HEADER, key),) if key else ()


def tls_credentials(
    ca_file: str | Path | None = None,
    cert_file: str | Path | None = None,
    key_file: str | Path | None = None,
) -> grpc.ChannelCredentials:
    """TLS that trusts the CA of `ca_file` (default: the system's roots),
    presenting the client certificate of `cert_file` and `key_file` (mTLS)
    when both are given."""
    if (cert_file is None) != (key_file is None):
        raise ValueError("give both a client certificate and its key, or neither")
    read = lambda path: None if path is None else Path(path).read_bytes()  # noqa: E731
    return grpc.ssl_channel_credentials(
        root_certificates=read(ca_file),
        private_key=read(key_file),
        certificate_chain=read(cert_file),
    )


def _with_metadata(metadata: Any, extra: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """`metadata` with the entries of `extra` whose keys it lacks: a call's
    own key wins over the channel's."""
    have = list(metadata or ())
    keys = {k for k, _ in have}
    return have + [(k, v) for k, v in extra if k not in keys]


class _Details(
    collections.namedtuple(
        "_Details",
        ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression"),
    ),
    grpc.ClientCallDetails,
):
    pass


class _SyncKey(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    def __init__(self, key: str) -> None:
        self._extra = api_key_metadata(key)

    def _details(self, d: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        return _Details(
            d.method,
            d.timeout,
            _with_metadata(d.metadata, self._extra),
            d.credentials,
            getattr(d, "wait_for_ready", None),
            getattr(d, "compression", None),
        )

    def intercept_unary_unary(self, continuation, client_call_details, request):
        return continuation(self._details(client_call_details), request)

    def intercept_unary_stream(self, continuation, client_call_details, request):
        return continuation(self._details(client_call_details), request)

    def intercept_stream_unary(self, continuation, client_call_details, request_iterator):
        return continuation(self._details(client_call_details), request_iterator)

    def intercept_stream_stream(self, continuation, client_call_details, request_iterator):
        return continuation(self._details(client_call_details), request_iterator)


def with_api_key(channel: grpc.Channel, key: str | None) -> grpc.Channel:
    """A synchronous channel whose every call carries `key`, unless the call
    brings a key of its own (the channel itself without a key)."""
    if not key:
        return channel
    return grpc.intercept_channel(channel, _SyncKey(key))


class _AioKey:
    def __init__(self, key: str) -> None:
        self._extra = api_key_metadata(key)

    def _details(self, d: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        return d._replace(metadata=grpc.aio.Metadata(*_with_metadata(d.metadata, self._extra)))

    async def intercept_unary_unary(self, continuation, client_call_details, request):
        return await continuation(self._details(client_call_details), request)

    async def intercept_unary_stream(self, continuation, client_call_details, request):
        return await continuation(self._details(client_call_details), request)

    async def intercept_stream_unary(self, continuation, client_call_details, request_iterator):
        return await continuation(self._details(client_call_details), request_iterator)

    async def intercept_stream_stream(self, continuation, client_call_details, request_iterator):
        return await continuation(self._details(client_call_details), request_iterator)


class _AioUnaryUnary(_AioKey, grpc.aio.UnaryUnaryClientInterceptor):
    pass


class _AioUnaryStream(_AioKey, grpc.aio.UnaryStreamClientInterceptor):
    pass


class _AioStreamUnary(_AioKey, grpc.aio.StreamUnaryClientInterceptor):
    pass


class _AioStreamStream(_AioKey, grpc.aio.StreamStreamClientInterceptor):
    pass


def api_key_interceptors(key: str | None) -> list[grpc.aio.ClientInterceptor]:
    """Interceptors for a grpc.aio channel that put `key` on every call that
    brings none of its own (one per call kind: aio takes them at the
    channel's creation)."""
    if not key:
        return []
    return [
        cls(key) for cls in (_AioUnaryUnary, _AioUnaryStream, _AioStreamUnary, _AioStreamStream)
    ]


def aio_channel(
    target: str,
    *,
    api_key: str | None = None,
    ca_file: str | Path | None = None,
    cert_file: str | Path | None = None,
    key_file: str | Path | None = None,
    tls: bool | None = None,
    options: Sequence[tuple[str, Any]] = (),
    interceptors: Sequence[grpc.aio.ClientInterceptor] = (),
) -> grpc.aio.Channel:
    """A grpc.aio channel to `target`: TLS when `tls`, or (by default) when
    a CA or a client certificate is given; plaintext otherwise. Every call
    carries `api_key`, after `interceptors`."""
    secure = tls if tls is not None else any(f is not None for f in (ca_file, cert_file))
    chain = [*interceptors, *api_key_interceptors(api_key)]
    if secure:
        creds = tls_credentials(ca_file, cert_file, key_file)
        return grpc.aio.secure_channel(target, creds, options=list(options), interceptors=chain)
    return grpc.aio.insecure_channel(target, options=list(options), interceptors=chain)


def add_arguments(parser: argparse.ArgumentParser, default_key: str | None = DEMO_KEY) -> None:
    """--api-key (default: $POLYMESH_API_KEY, else `default_key`), and
    --ca-file, --cert, --key for TLS (the gateway's TLS port)."""
    group = parser.add_argument_group("credentials")
    group.add_argument(
        "--api-key",
        default=os.environ.get(API_KEY_ENV, default_key),
        help=f"the API key (default: ${API_KEY_ENV}, else {default_key}); '' sends none",
    )
    group.add_argument(
        "--ca-file",
        help="TLS: the CA that signed the gateway's certificate (./dev up: .run/tls/ca.crt)",
    )
    group.add_argument("--cert", help="mTLS: a client certificate (./dev up: .run/tls/*.crt)")
    group.add_argument("--key", help="mTLS: the client certificate's key")


def channel_from_args(
    args: argparse.Namespace, target: str | None = None, **kwargs: Any
) -> grpc.aio.Channel:
    """The grpc.aio channel that the flags of `add_arguments` describe, to
    `target` (default: args.target)."""
    return aio_channel(
        target or args.target,
        api_key=args.api_key or None,
        ca_file=args.ca_file,
        cert_file=args.cert,
        key_file=args.key,
        **kwargs,
    )
