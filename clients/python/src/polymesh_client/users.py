"""A typed asyncio client of the users API, `polymesh.users.v1.UserService`.

Usage:

    async with grpc.aio.insecure_channel("127.0.0.1:8080") as channel:
        users = UsersClient(channel, api_key="polymesh-demo-key")
        ada = await users.create("ada@example.com", "Ada Lovelace")
        ada = await users.update(ada.id, name="Augusta Ada King")
        async for user in users.list():
            print(user.id, user.email)

Every call has a deadline (`deadline`, in seconds; the client's `timeout`, 5 s unless
given) and carries the client's metadata and the active span's W3C trace context (see
`polymesh_client.calls`). Failures raise `grpc.aio.AioRpcError` with the server's
status code: INVALID_ARGUMENT (with a google.rpc.BadRequest detail), NOT_FOUND,
ALREADY_EXISTS, UNAVAILABLE...
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import grpc
from google.protobuf import field_mask_pb2
from polymesh.users.v1 import users_pb2, users_pb2_grpc

from .auth import api_key_metadata
from .calls import DEFAULT_TIMEOUT, CallSettings

__all__ = ["DEFAULT_TIMEOUT", "PageCutShort", "UsersClient"]


class PageCutShort(Exception):
    """A ListUsers stream ended without the end of its page: ask for the page again."""


class UsersClient:
    """Calls `polymesh.users.v1.UserService` over one channel.

    `metadata` goes with every call (for example `(("x-users-impl", "python"),)`, which
    the gateway of `./dev up` routes to the Python implementation), then `api_key` as
    `x-api-key` (the gateway admits the group `users`). `timeout` is the deadline of
    calls that give none (None: no deadline).
    """

    def __init__(
        self,
        channel: grpc.aio.Channel,
        timeout: float | None = DEFAULT_TIMEOUT,
        metadata: Sequence[tuple[str, str]] = (),
        api_key: str | None = None,
    ) -> None:
        self._stub = users_pb2_grpc.UserServiceStub(channel)
        self._calls = CallSettings(timeout, (*metadata, *api_key_metadata(api_key)))

    async def create(self, email: str, name: str, deadline: float | None = None) -> users_pb2.User:
        """Creates a user; returns it as stored, with its id and times."""
        answer = await self._stub.CreateUser(
            users_pb2.CreateUserRequest(email=email, name=name), **self._calls.call(deadline)
        )
        return answer.user

    async def get(self, user_id: str, deadline: float | None = None) -> users_pb2.User:
        """The user with id `user_id`."""
        answer = await self._stub.GetUser(
            users_pb2.GetUserRequest(id=user_id), **self._calls.call(deadline)
        )
        return answer.user

    async def update(
        self,
        user_id: str,
        *,
        email: str | None = None,
        name: str | None = None,
        deadline: float | None = None,
    ) -> users_pb2.User:
        """Changes the fields given (the update mask names them); returns the user now.

        Giving neither field sends an empty mask, which the server refuses
        (INVALID_ARGUMENT).
        """
        user = users_pb2.User(id=user_id)
        paths = []
        if email is not None:
            user.email = email
            paths.append("email")
        if name is not None:
            user.name = name
            paths.append("name")
        answer = await self._stub.UpdateUser(
            users_pb2.UpdateUserRequest(
                user=user, update_mask=field_mask_pb2.FieldMask(paths=paths)
            ),
            **self._calls.call(deadline),
        )
        return answer.user

    async def delete(self, user_id: str, deadline: float | None = None) -> None:
        """Deletes the user with id `user_id`."""
        await self._stub.DeleteUser(
            users_pb2.DeleteUserRequest(id=user_id), **self._calls.call(deadline)
        )

    async def list_page(
        self, page_size: int = 0, page_token: str = "", deadline: float | None = None
    ) -> tuple[list[users_pb2.User], str]:
        """One page of users and the next page's token ("" after the last page).

        Raises PageCutShort when the stream ends without the end of its page.
        """
        users = []
        async for item in self._page(page_size, page_token, deadline):
            if isinstance(item, str):
                return users, item
            users.append(item)
        raise AssertionError("unreachable: _page ends with the next token")

    async def list(
        self, page_size: int = 0, deadline: float | None = None
    ) -> AsyncIterator[users_pb2.User]:
        """Every user, in id order, as the ListUsers streams deliver them.

        Follows the pages (`page_size` users per call; 0: the server's default), each
        one call with its own deadline. Raises PageCutShort when a stream ends without
        the end of its page (the users of that page before the cut were yielded).
        """
        token = ""
        while True:
            async for item in self._page(page_size, token, deadline):
                if isinstance(item, str):
                    token = item
                else:
                    yield item
            if not token:
                return

    async def _page(
        self, page_size: int, page_token: str, deadline: float | None
    ) -> AsyncIterator[users_pb2.User | str]:
        """Yields a page's users, then its next page token."""
        call = self._stub.ListUsers(
            users_pb2.ListUsersRequest(page_size=page_size, page_token=page_token),
            **self._calls.call(deadline),
        )
        try:
            async for message in call:
                if message.WhichOneof("item") == "end":
                    yield message.end.next_page_token
                    return
                yield message.user
        finally:
            call.cancel()  # a no-op once the call has ended
        raise PageCutShort(f"the ListUsers stream after {page_token!r} ended before its end")
