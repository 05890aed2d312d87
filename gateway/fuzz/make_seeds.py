#!/usr/bin/env python3
"""Writes the seed corpora of the gateway's fuzz targets: corpus/<target>/.

The seeds are small real inputs, valid ones and edge cases. Those of
http2_downstream are client byte streams (connection preface, SETTINGS,
HEADERS with HPACK-encoded gRPC request headers, DATA with gRPC messages,
and the other frames), encoded here with the standard library only.

    python3 gateway/fuzz/make_seeds.py   # rewrites corpus/*/seed-*

Seeds a fuzz run found (crash reproducers, kept as regression inputs) are
named otherwise and left alone.
"""

import pathlib
import random
import struct

HERE = pathlib.Path(__file__).resolve().parent

# --- HTTP/2 and HPACK ---------------------------------------------------------

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS = 0x0, 0x1, 0x2, 0x3, 0x4
PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0x6, 0x7, 0x8, 0x9
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20


def frame(kind, flags, stream, payload=b""):
    return (
        struct.pack(">I", len(payload))[1:]
        + bytes([kind, flags])
        + struct.pack(">I", stream)
        + payload
    )


def settings(**entries):
    ids = {
        "header_table_size": 1,
        "enable_push": 2,
        "max_concurrent_streams": 3,
        "initial_window_size": 4,
        "max_frame_size": 5,
        "max_header_list_size": 6,
    }
    return frame(
        SETTINGS, 0, 0, b"".join(struct.pack(">HI", ids[k], v) for k, v in entries.items())
    )


def hpack_int(value, prefix_bits, first=0):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def hpack_literal(name, value):
    """A literal field without indexing, new name, no Huffman coding."""
    name, value = name.encode(), value.encode() if isinstance(value, str) else value
    return b"\x00" + hpack_int(len(name), 7) + name + hpack_int(len(value), 7) + value


def request_block(path, extra=(), method="POST", content_type="application/grpc"):
    block = b""
    # :method POST and :scheme http from the static table, the rest literal.
    block += b"\x83" if method == "POST" else hpack_literal(":method", method)
    block += b"\x86"
    block += hpack_literal(":path", path)
    block += hpack_literal(":authority", "localhost:8080")
    if content_type is not None:
        block += hpack_literal("content-type", content_type)
    block += hpack_literal("te", "trailers")
    for name, value in extra:
        block += hpack_literal(name, value)
    return block


def headers(stream, block, end_stream=False):
    return frame(HEADERS, END_HEADERS | (END_STREAM if end_stream else 0), stream, block)


def message(body):
    return b"\x00" + struct.pack(">I", len(body)) + body


def data(stream, payload, end_stream=True):
    return frame(DATA, END_STREAM if end_stream else 0, stream, payload)


# An EchoService request: field 1, a string.
HELLO = message(b"\x0a\x05hello")
ECHO = "/polymesh.testing.v1.EchoService/Unary"


def call(stream, path=ECHO, extra=(), body=HELLO, **kwargs):
    return headers(stream, request_block(path, extra, **kwargs)) + data(stream, body)


def pad_to(stream, modulus, remainder):
    """`stream` and zero bytes (a frame cut short), `remainder` bytes past a multiple of
    `modulus` in all: the http2_downstream target picks how a connection ends by its length."""
    return stream + b"\0" * ((remainder - len(stream)) % modulus)


def start(**entries):
    return PREFACE + settings(**entries) + frame(SETTINGS, ACK, 0)


def http2_seeds():
    seeds = {
        "unary-routed": start() + call(1),
        "unary-unrouted": start() + call(1, "/no.such.v1.Service/Method"),
        "unary-refused-upstream": start() + call(1, "/polymesh.users.v1.UserService/GetUser"),
        "deadline-due-at-once": start() + call(1, "/polymesh.ai.v1.AIService/Predict"),
        "package-route-with-timeout": start()
        + call(1, "/polymesh.ai.v1.AIService/Chat", [("grpc-timeout", "1S")]),
        "header-split": start()
        + call(1, extra=[("x-tenant", "blue")])
        + call(3, extra=[("x-tenant", "blue")])
        + call(5, extra=[("x-tenant", "blue")]),
        "catch-all-with-condition": start() + call(1, "/any.v1.Thing/Do", [("x-route", "1")]),
        "per-try-timeout": start()
        + call(1, "/polymesh.testing.v1.EchoService/ServerStream", [("x-fuzz-upstream", "p")]),
        # A length that is a multiple of 5 drains the connection.
        "drained": pad_to(start() + call(1) + call(3), 5, 0),
        "traced": start()
        + call(
            1,
            extra=[
                ("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
                ("tracestate", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"),
            ],
        ),
        "method-get": start() + headers(1, request_block(ECHO, method="GET"), end_stream=True),
        "content-type-wrong": start() + call(1, content_type="text/plain"),
        "content-type-missing": start() + call(1, content_type=None),
        "grpc-timeout-malformed": start() + call(1, extra=[("grpc-timeout", "soon")]),
        "grpc-timeout-zero": start() + call(1, extra=[("grpc-timeout", "0n")]),
        "request-message-too-large": start()
        + headers(1, request_block(ECHO))
        + data(1, b"\x00\x00\x00\x10\x00" + b"x" * 64),
        "many-streams": start() + b"".join(call(2 * i + 1) for i in range(14)),
        "client-reset": start()
        + headers(1, request_block(ECHO))
        + data(1, HELLO, end_stream=False)
        + frame(RST_STREAM, 0, 1, struct.pack(">I", 8)),
        "client-goaway": start() + call(1) + frame(GOAWAY, 0, 0, struct.pack(">II", 1, 0) + b"bye"),
        "ping-window-priority": start()
        + frame(PING, 0, 0, b"12345678")
        + frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 65536))
        + frame(PRIORITY, 0, 1, struct.pack(">IB", 0, 16))
        + call(1)
        + frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", 1024)),
        "headers-continuation": start()
        + frame(HEADERS, 0, 1, request_block(ECHO)[:20])
        + frame(CONTINUATION, END_HEADERS, 1, request_block(ECHO)[20:])
        + data(1, HELLO),
        "request-trailers": start()
        + headers(1, request_block(ECHO))
        + data(1, HELLO, end_stream=False)
        + headers(1, hpack_literal("x-trailer", "1"), end_stream=True),
        "streaming-messages": start()
        + headers(1, request_block("/polymesh.testing.v1.EchoService/BidiStream"))
        + data(1, HELLO, end_stream=False)
        + data(1, HELLO[:3], end_stream=False)
        + data(1, HELLO[3:] + HELLO, end_stream=True),
        "even-stream": start() + call(2),
        "settings-extremes": start(
            header_table_size=0, initial_window_size=0, max_frame_size=16777215, enable_push=0
        )
        + call(1),
        "padded-frames": start()
        + frame(HEADERS, END_HEADERS | PADDED, 1, b"\x04" + request_block(ECHO) + b"\x00" * 4)
        + frame(DATA, END_STREAM | PADDED, 1, b"\x02" + HELLO + b"\x00\x00"),
        "headers-with-priority": start()
        + frame(
            HEADERS,
            END_HEADERS | PRIORITY_FLAG,
            1,
            struct.pack(">IB", 0, 200) + request_block(ECHO),
        )
        + data(1, HELLO),
        "no-body": start() + headers(1, request_block(ECHO), end_stream=True),
        "replay-buffer-overflow": start()
        + headers(1, request_block(ECHO))
        + b"".join(data(1, message(b"y" * 900), end_stream=False) for _ in range(3))
        + data(1, b""),
        "preface-only": PREFACE,
        "preface-garbage": PREFACE + b"\x00\x00\x04\xff\x00\x00\x00\x00\x00garbage",
        "not-http2": b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "hop-by-hop-headers": start()
        + call(
            1, extra=[("te", "gzip"), ("x-custom-bin", "AAEC"), ("user-agent", "grpc-c++/1.51")]
        ),
    }
    for mode in ["s14", "s8", "s5", "o14", "o0", "r8", "r7", "g", "b", "1", "e", "p"]:
        seeds[f"upstream-answer-{mode}"] = start() + call(1, extra=[("x-fuzz-upstream", mode)])
    # More than the upstream's window of 512 bytes, to an upstream that
    # gives none back; the length (3 mod 6) tears the connection down at
    # once, while it is open.
    stalled = (
        start()
        + headers(1, request_block(ECHO, [("x-fuzz-upstream", "p")]))
        + data(1, message(b"z" * 1000), end_stream=False)
    )
    seeds["upstream-stalled-teardown"] = pad_to(stalled, 6, 3)
    seeds["upstream-early-answer"] = (
        start()
        + headers(1, request_block(ECHO, [("x-fuzz-upstream", "o3")]))
        + frame(PING, 0, 0, b"abcdefgh")
        + data(1, HELLO)
    )
    return seeds


# --- The other targets ------------------------------------------------------------


def grpc_frames_seeds():
    def seed(limit, cut, stream):
        return struct.pack("<I", limit) + bytes([cut]) + stream

    return {
        "one-message": seed(1024, 7, HELLO),
        "two-messages": seed(1024, 3, HELLO + message(b"x" * 100)),
        "over-limit": seed(16, 11, HELLO + message(b"x" * 100)),
        "empty-messages": seed(0, 1, message(b"") * 4),
        "huge-prefix": seed(0x80000000, 5, b"\x01\xff\xff\xff\xff"),
        "cut-prefix": seed(4, 0, b"\x00\x00\x00"),
    }


def traceparent_seeds():
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    return {
        "sampled": parent + "\n",
        "with-tracestate": parent + "\nrojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
        "not-sampled": parent[:-2] + "00\n",
        "upper-case": parent.upper() + "\n",
        "zero-trace-id": "00-" + "0" * 32 + "-00f067aa0ba902b7-01\n",
        "zero-span-id": "00-4bf92f3577b34da6a3ce929d0e0e4736-" + "0" * 16 + "-01\n",
        "version-ff": "ff" + parent[2:] + "\n",
        "future-version": "cc" + parent[2:] + "-what-comes-later\n",
        "blanks": " \t" + parent + " \n",
        "too-long": parent + "0\n",
        "tracestate-only": "\nvendor=value",
        "tracestate-many": parent + "\n" + ",".join(f"k{i}=v{i}" for i in range(40)),
        "tracestate-tenant": parent + "\ntenant@vendor=1,bad key=2,=3,k=",
        "empty": "",
    }


def config_seeds():
    compose = (HERE.parent / "config" / "compose.yaml").read_text()
    return {
        "compose": compose,
        "minimal": "listener: { address: 127.0.0.1, port: 8080 }\n",
        "policies": """listener: { address: 127.0.0.1, port: 0 }
workers: 2
limits: { max_request_message_bytes: 1024, max_concurrent_streams_per_connection: 10 }
drain_timeout: 5s
access_log: { path: /dev/null }
clusters:
  - name: echo
    endpoints: [{ address: 127.0.0.1, port: 50051 }, { address: localhost, port: 50052 }]
    connect_timeout: 250ms
    load_balancing: LOAD_BALANCING_LEAST_REQUEST
    health_check: { interval: 1s, timeout: 100ms, unhealthy_threshold: 2, service: echo }
    outlier_detection: { consecutive_failures: 3, base_ejection_time: 1s }
  - name: shadow
    endpoints: [{ address: shadow.internal, port: 50053 }]
routes:
  - name: tenant
    match:
      service: polymesh.testing.v1.EchoService
      headers: [{ name: x-tenant, exact: blue }, { name: x-debug, present: false }]
    split: [{ cluster: echo, weight: 90 }, { cluster: shadow, weight: 10 }]
  - name: echo
    match: { method: polymesh.testing.v1.EchoService/Unary }
    cluster: echo
    timeout: 1.5s
    retry: { retry_on: [UNAVAILABLE], max_attempts: 3, per_try_timeout: 100ms }
    mirror: { cluster: shadow, percent: 10 }
  - name: ai
    match: { package: polymesh.ai }
    cluster: echo
  - name: rest
    match: { any: true, headers: [{ name: x-route, prefix: a }] }
    cluster: echo
""",
        "unknown-field": "listener: { address: 127.0.0.1, port: 8080, backlog: 5 }\n",
        "bad-duration": "drain_timeout: soon\n",
        "bad-types": "workers: many\nclusters: {}\nroutes: [1, 2]\n",
        "duplicate-key": "workers: 1\nworkers: 2\n",
        "anchors": "clusters:\n"
        "  - &c { name: a, endpoints: [{ address: 127.0.0.1, port: 1 }] }\n"
        "  - *c\n",
        "flow-nesting": "routes: [[[[{ name: [x] }]]]]\n",
        "not-yaml": "{ listener: [ \n",
        "tabs-and-unicode": "listener:\n\t address: \u00e9\n",
        "empty": "",
    }


def health_seeds():
    return {
        "unknown": b"",
        "serving": b"\x08\x01",
        "not-serving": b"\x08\x02",
        "service-unknown": b"\x08\x03",
        "other-fields": b"\x12\x03abc\x08\x01\x1d\x00\x00\x00\x00",
        "truncated-varint": b"\x08\x80",
        "negative": b"\x08" + b"\xff" * 9 + b"\x01",
        "group": b"\x0b\x08\x01\x0c\x08\x01",
        "field-zero": b"\x02\x00",
        "twice": b"\x08\x01\x08\x02",
        "bytes-as-status": b"\x0a\x01\x01",
    }


def text_seeds(values):
    return {f"{i:02d}": v for i, v in enumerate(values)}


def headers_seeds():
    rng = random.Random(20240501)
    return {f"random-{i}": bytes(rng.randrange(256) for _ in range(64 * (i + 1))) for i in range(6)}


SEEDS = {
    "http2_downstream": http2_seeds,
    "grpc_timeout": lambda: text_seeds(
        [
            "1S",
            "250m",
            "100u",
            "7n",
            "5M",
            "2H",
            "99999999H",
            "00000000n",
            "0n",
            "100000000n",
            "1",
            "",
            "-1S",
            "1x",
            " 1S",
            "1s",
            "12345678u",
        ]
    ),
    "method_path": lambda: text_seeds(
        [
            "/polymesh.ai.v1.AIService/Predict",
            "/grpc.health.v1.Health/Check",
            "/Svc/M",
            "/a/b",
            "//b",
            "/a/",
            "a/b",
            "/a/b/c",
            "/",
            "",
            "/.a/b",
            "/a./b",
        ]
    ),
    "grpc_message_percent": lambda: text_seeds(
        [
            'no route for method "/a.B/C"',
            "100%",
            "%41%42",
            "%zz",
            "caf\u00e9\n",
            "%",
            "%4",
            "%25%0A%C3%A9",
            "%c3%a9",
        ]
    ),
    "grpc_frames": grpc_frames_seeds,
    "headers": headers_seeds,
    "traceparent": traceparent_seeds,
    "health_check_response": health_seeds,
    "config_yaml": config_seeds,
}


def main():
    for target, make in SEEDS.items():
        folder = HERE / "corpus" / target
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("seed-*"):
            old.unlink()
        for name, content in make().items():
            if isinstance(content, str):
                content = content.encode()
            (folder / f"seed-{name}").write_bytes(content)


if __name__ == "__main__":
    main()
