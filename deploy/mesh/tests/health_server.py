"""A tiny process for the supervisor's tests: grpc.health.v1 SERVING on
127.0.0.1:$PORT; on SIGTERM it appends "$NAME" to $STOP_LOG and exits 0,
unless $IGNORE_TERM is set (then only SIGKILL ends it)."""

from __future__ import annotations

import os
import signal
import threading
from concurrent import futures
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc


def main() -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    server.add_insecure_port(f"127.0.0.1:{os.environ['PORT']}")
    server.start()
    stop = threading.Event()
    if os.environ.get("IGNORE_TERM"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    with Path(os.environ["STOP_LOG"]).open("a") as log:
        log.write(os.environ["NAME"] + "\n")
    server.stop(grace=None)


if __name__ == "__main__":
    main()
