"""Steady demo traffic through the gateway, for dashboards and traces.

    python -m polymesh_client.loadgen --target 127.0.0.1:8080 --rate 20 --duration 60
    python -m polymesh_client.loadgen --target 127.0.0.1:8443 --ca-file .run/tls/ca.crt

Open loop: calls start at a fixed rate whatever the answers take, a mix of
AI API predictions (iris rows, digits tensors, now and then a request for a
model that does not exist), users API calls (create, get, list) and direct
Open Inference Protocol calls, each with a deadline. A status line every few
seconds counts the calls by status code. It stops after --duration seconds
(0: until interrupted) and never has more than --max-in-flight calls open.
Every call carries a key: the AI and users APIs the demo key's
(--api-key), the inference tier's operator routes the operator key's
(--operator-key). compose.yaml runs it as the `loadgen` profile; `./dev up`
users can run it by hand against the local mesh.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import random
import signal
import sys
import time
import uuid
from collections.abc import Awaitable, Callable

import grpc
from inference import grpc_service_pb2 as infer_pb2
from inference import grpc_service_pb2_grpc as infer_pb2_grpc
from polymesh.users.v1 import users_pb2, users_pb2_grpc
from sklearn.datasets import load_digits, load_iris

from polymesh_client.ai import AIClient, tensor
from polymesh_client.auth import OPERATOR_KEY, add_arguments, api_key_metadata, channel_from_args

Call = Callable[[], Awaitable[object]]


class Traffic:
    """The calls of the mix, over one channel."""

    def __init__(self, channel: grpc.aio.Channel, operator_key: str, deadline: float) -> None:
        self._ai = AIClient(channel, timeout=deadline)
        self._users = users_pb2_grpc.UserServiceStub(channel)
        self._inference = infer_pb2_grpc.GRPCInferenceServiceStub(channel)
        self._deadline = deadline
        # The channel's key goes with every call; the inference tier's own
        # routes admit operators.
        self._operator = api_key_metadata(operator_key)
        self._iris = load_iris().data
        self._digits = load_digits().data.astype("float32")
        self._user_ids: collections.deque[str] = collections.deque(maxlen=100)
        self.mix: list[tuple[float, str, Call]] = [
            (0.45, "Predict iris", self.predict_iris),
            (0.2, "Predict digits", self.predict_digits),
            (0.03, "Predict unknown model", self.predict_unknown),
            (0.12, "ModelMetadata", self.model_metadata),
            (0.08, "CreateUser", self.create_user),
            (0.08, "GetUser", self.get_user),
            (0.04, "ListUsers", self.list_users),
        ]

    def pick(self) -> tuple[str, Call]:
        weights = [w for w, _, _ in self.mix]
        _, name, call = random.choices(self.mix, weights)[0]
        return name, call

    async def predict_iris(self) -> object:
        rows = self._iris[random.sample(range(len(self._iris)), random.randint(1, 4))]
        return await self._ai.predict_rows("iris", rows.tolist())

    async def predict_digits(self) -> object:
        x = self._digits[random.sample(range(len(self._digits)), 2)]
        return await self._ai.predict_tensors(
            "digits", [tensor("input", "FP32", x.shape, x.ravel().tolist())]
        )

    async def predict_unknown(self) -> object:
        return await self._ai.predict_rows("no-such-model", [[1.0, 2.0]])

    async def model_metadata(self) -> object:
        return await self._inference.ModelMetadata(
            infer_pb2.ModelMetadataRequest(name="iris"),
            timeout=self._deadline,
            metadata=self._operator,
        )

    async def create_user(self) -> object:
        answer = await self._users.CreateUser(
            users_pb2.CreateUserRequest(
                email=f"load-{uuid.uuid4().hex[:12]}@example.com", name="Load Generator"
            ),
            timeout=self._deadline,
        )
        self._user_ids.append(answer.user.id)
        return answer

    async def get_user(self) -> object:
        user_id = random.choice(self._user_ids) if self._user_ids else str(uuid.uuid4())
        return await self._users.GetUser(
            users_pb2.GetUserRequest(id=user_id), timeout=self._deadline
        )

    async def list_users(self) -> object:
        call = self._users.ListUsers(
            users_pb2.ListUsersRequest(page_size=10), timeout=self._deadline
        )
        return [item async for item in call]


async def run(args: argparse.Namespace) -> dict[str, int]:
    counts: collections.Counter[str] = collections.Counter()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    in_flight: set[asyncio.Task[None]] = set()
    async with channel_from_args(args) as channel:
        traffic = Traffic(channel, args.operator_key, args.deadline)

        async def one(name: str, call: Call) -> None:
            try:
                await call()
                counts[f"{name}: OK"] += 1
            except grpc.aio.AioRpcError as e:
                counts[f"{name}: {e.code().name}"] += 1

        start = time.monotonic()
        next_report = start + args.report_every
        interval = 1.0 / args.rate
        due = start
        while not stop.is_set():
            now = time.monotonic()
            if args.duration and now - start >= args.duration:
                break
            if now >= next_report:
                total = sum(counts.values())
                print(
                    f"loadgen: {now - start:5.0f} s, {total} calls, {len(in_flight)} in flight, "
                    + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())),
                    flush=True,
                )
                next_report += args.report_every
            if now < due:
                try:
                    await asyncio.wait_for(stop.wait(), due - now)
                except TimeoutError:
                    pass
                continue
            due += interval
            if len(in_flight) >= args.max_in_flight:
                counts["skipped: too many in flight"] += 1
                continue
            task = asyncio.create_task(one(*traffic.pick()))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        if in_flight:
            await asyncio.wait(in_flight, timeout=args.deadline)
    return dict(counts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default=os.environ.get("POLYMESH_TARGET", "127.0.0.1:8080"))
    add_arguments(parser)
    parser.add_argument(
        "--operator-key",
        default=os.environ.get("POLYMESH_OPERATOR_KEY", OPERATOR_KEY),
        help="for the inference tier's calls (default: $POLYMESH_OPERATOR_KEY, else "
        f"{OPERATOR_KEY})",
    )
    parser.add_argument("--rate", type=float, default=10.0, help="calls started per second")
    parser.add_argument("--duration", type=float, default=0.0, help="seconds; 0: until stopped")
    parser.add_argument("--deadline", type=float, default=5.0, help="per call, in seconds")
    parser.add_argument("--max-in-flight", type=int, default=200)
    parser.add_argument("--report-every", type=float, default=10.0, help="seconds")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.max_in_flight <= 0:
        parser.error("--rate and --max-in-flight must be positive")
    counts = asyncio.run(run(args))
    print("loadgen: done, " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 0 if any(k.endswith(": OK") for k in counts) else 1


if __name__ == "__main__":
    sys.exit(main())
