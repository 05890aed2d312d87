"""Creates, reads, renames, lists and deletes a user through the gateway.

python examples/users_crud.py --target 127.0.0.1:8080 --email ada@example.com
python examples/users_crud.py --impl python     # the Python implementation
python examples/users_crud.py --target 127.0.0.1:8443 --ca-file .run/tls/ca.crt

The gateway admits the group `users`: the demo key (the default) has it.
"""

from __future__ import annotations

import argparse
import asyncio
import uuid

import grpc
import grpc.aio
from polymesh_client.auth import add_arguments, channel_from_args
from polymesh_client.calls import DEFAULT_TIMEOUT
from polymesh_client.users import UsersClient


async def main(args: argparse.Namespace) -> None:
    # The gateway of ./dev up routes x-users-impl: python to the Python service.
    metadata = (("x-users-impl", args.impl),) if args.impl == "python" else ()
    async with channel_from_args(args) as channel:
        users = UsersClient(channel, timeout=args.timeout, metadata=metadata)
        user = await users.create(args.email, "Ada Lovelace")
        print(f"created {user.id} <{user.email}> {user.name}")
        user = await users.get(user.id)
        print(f"read {user.id}: created {user.create_time.ToJsonString()}")
        user = await users.update(user.id, name="Augusta Ada King")
        print(f"renamed {user.id}: {user.name}")
        count = 0
        async for _ in users.list(page_size=100):
            count += 1
        print(f"{count} users in all")
        await users.delete(user.id)
        print(f"deleted {user.id}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="127.0.0.1:8080", help="the gateway, host:port")
    add_arguments(parser)
    parser.add_argument(
        "--email", default=f"ada-{uuid.uuid4().hex[:8]}@example.com", help="the new user's email"
    )
    parser.add_argument("--impl", choices=["go", "python"], default="go", help="which service")
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds each call may take"
    )
    try:
        asyncio.run(main(parser.parse_args()))
    except grpc.aio.AioRpcError as error:
        raise SystemExit(f"{error.code().name}: {error.details()}") from None
