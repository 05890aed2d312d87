"""A real gRPC server of polymesh.testing.v1.EchoService for the end-to-end tests.

It follows each request's Instruction (fail with a status and details, wait,
send several responses of a given size), echoes the request's `x-*` metadata as
response headers, always sets trailers (one of them binary), and records what
it observed of each call — metadata, remaining deadline, cancellation — under
the call's `x-test-id` header, for the tests to assert.
"""

from __future__ import annotations

import threading
from concurrent import futures
from dataclasses import dataclass, field

import grpc
from google.rpc import status_pb2
from polymesh.testing.v1 import echo_pb2, echo_pb2_grpc

TRAILERS = (("x-trailer", "done"), ("x-trailer-bin", b"\x00\x01\xfe"))


@dataclass
class Observation:
    """What the backend saw of one call."""

    metadata: dict
    time_remaining: float | None
    ended: threading.Event = field(default_factory=threading.Event)
    finished: bool = False  # the handler returned before the call ended
    messages: int = 0

    @property
    def cancelled(self) -> bool:
        """The call ended (client cancel, deadline) before the handler finished."""
        return self.ended.is_set() and not self.finished


@dataclass
class _Failure:
    code: grpc.StatusCode
    details: str
    trailing_metadata: tuple


class EchoBackend(echo_pb2_grpc.EchoServiceServicer):
    """The servicer; `observations` maps x-test-id to an Observation."""

    def __init__(self) -> None:
        self.observations: dict[str, Observation] = {}
        self.arrived = threading.Condition()

    def observation(self, test_id: str, timeout: float = 5.0) -> Observation:
        """The observation of the call tagged `test_id`, waiting for it to arrive."""
        with self.arrived:
            self.arrived.wait_for(lambda: test_id in self.observations, timeout)
            return self.observations[test_id]

    def _begin(self, context: grpc.ServicerContext) -> Observation:
        metadata = dict(context.invocation_metadata())
        obs = Observation(metadata=metadata, time_remaining=context.time_remaining())
        context.add_callback(obs.ended.set)
        with self.arrived:
            self.observations[metadata.get("x-test-id", "")] = obs
            self.arrived.notify_all()
        echoed = tuple((k, v) for k, v in metadata.items() if k.startswith("x-"))
        context.send_initial_metadata(echoed)
        return obs

    @staticmethod
    def _wait(obs: Observation, instruction: echo_pb2.Instruction) -> bool:
        """Waits delay_ms; False if the call ended meanwhile."""
        if instruction.delay_ms:
            return not obs.ended.wait(instruction.delay_ms / 1000)
        return True

    @staticmethod
    def _end(context: grpc.ServicerContext, obs: Observation, instruction: echo_pb2.Instruction):
        obs.finished = True
        if instruction.fail_code:
            code = next(c for c in grpc.StatusCode if c.value[0] == instruction.fail_code)
            message = instruction.fail_message
            details = status_pb2.Status(code=instruction.fail_code, message=message)
            context.abort_with_status(
                _Failure(
                    code,
                    instruction.fail_message,
                    (*TRAILERS, ("grpc-status-details-bin", details.SerializeToString())),
                )
            )
        context.set_trailing_metadata(TRAILERS)

    @staticmethod
    def _payload(received: bytes, instruction: echo_pb2.Instruction) -> bytes:
        return b"p" * instruction.response_size if instruction.response_size else received

    def Unary(self, request, context):
        obs = self._begin(context)
        if not self._wait(obs, request.instruction):
            return echo_pb2.UnaryResponse()
        self._end(context, obs, request.instruction)
        return echo_pb2.UnaryResponse(
            text=request.text, payload=self._payload(request.payload, request.instruction)
        )

    def ClientStream(self, request_iterator, context):
        obs = self._begin(context)
        texts, size, instruction = [], 0, None
        for request in request_iterator:
            instruction = instruction or request.instruction
            texts.append(request.text)
            size += len(request.payload)
            obs.messages += 1
        instruction = instruction or echo_pb2.Instruction()
        if not self._wait(obs, instruction):
            return echo_pb2.ClientStreamResponse()
        self._end(context, obs, instruction)
        return echo_pb2.ClientStreamResponse(
            text=",".join(texts), count=len(texts), payload_bytes=size
        )

    def ServerStream(self, request, context):
        obs = self._begin(context)
        if not self._wait(obs, request.instruction):
            return
        for i in range(request.instruction.response_count or 1):
            if obs.ended.is_set():
                return
            yield echo_pb2.ServerStreamResponse(
                text=request.text, index=i, payload=b"s" * request.instruction.response_size
            )
        self._end(context, obs, request.instruction)

    def BidiStream(self, request_iterator, context):
        obs = self._begin(context)
        for i, request in enumerate(request_iterator):
            obs.messages += 1
            if not self._wait(obs, request.instruction):
                return
            if request.instruction.fail_code:
                self._end(context, obs, request.instruction)
            yield echo_pb2.BidiStreamResponse(
                text=request.text,
                payload=self._payload(request.payload, request.instruction),
                index=i,
            )
        self._end(context, obs, echo_pb2.Instruction())


def start(port: int) -> tuple[grpc.Server, EchoBackend]:
    """Starts the backend on 127.0.0.1:`port`."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=16),
        options=[("grpc.max_receive_message_length", 16 << 20)],
    )
    backend = EchoBackend()
    echo_pb2_grpc.add_EchoServiceServicer_to_server(backend, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    return server, backend
