"""polymesh.users.v1.UserService: validation, the store, and the errors the
Go service answers (google.rpc details included)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import NoReturn

import grpc
import grpc.aio
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from polymesh.users.v1 import users_pb2, users_pb2_grpc

from . import messages as m
from .store import AsyncStore, EmailTaken, NotFound, Unavailable, User
from .validation import (
    InvalidArgument,
    encode_page_token,
    validate_create,
    validate_id,
    validate_list,
    validate_update,
)

__all__ = ["SERVICE_NAME", "UserServicer", "to_proto"]

SERVICE_NAME = users_pb2.DESCRIPTOR.services_by_name["UserService"].full_name
STATUS_DETAILS_KEY = "grpc-status-details-bin"

log = logging.getLogger(__name__)


def to_proto(user: User) -> users_pb2.User:
    out = users_pb2.User(id=user.id, email=user.email, name=user.name)
    out.create_time.FromDatetime(user.create_time)
    out.update_time.FromDatetime(user.update_time)
    return out


async def _abort_with(
    context: grpc.aio.ServicerContext, code: grpc.StatusCode, message: str, detail
) -> NoReturn:
    """Ends the call with a google.rpc.Status carrying one detail."""
    packed = any_pb2.Any()
    packed.Pack(detail)
    st = status_pb2.Status(code=code.value[0], message=message, details=[packed])
    await context.abort(code, message, ((STATUS_DETAILS_KEY, st.SerializeToString()),))
    raise AssertionError("unreachable")  # abort raises


async def invalid_argument(context: grpc.aio.ServicerContext, err: InvalidArgument) -> NoReturn:
    detail = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=f, description=d)
            for f, d in err.violations
        ]
    )
    await _abort_with(context, grpc.StatusCode.INVALID_ARGUMENT, err.message, detail)


async def store_error(
    context: grpc.aio.ServicerContext, method: str, id_: str, err: Exception
) -> NoReturn:
    """The status for a store error: its code, or INTERNAL (logged)."""
    if isinstance(err, NotFound):
        detail = error_details_pb2.ResourceInfo(
            resource_type=m.RESOURCE_TYPE_USER,
            resource_name=id_,
            description=m.MSG_USER_NOT_FOUND,
        )
        await _abort_with(context, grpc.StatusCode.NOT_FOUND, m.MSG_USER_NOT_FOUND, detail)
    if isinstance(err, EmailTaken):
        await context.abort(grpc.StatusCode.ALREADY_EXISTS, m.MSG_EMAIL_TAKEN)
    if isinstance(err, Unavailable):
        log.warning("database unavailable", extra={"method": method, "error": str(err)})
        await context.abort(grpc.StatusCode.UNAVAILABLE, m.MSG_UNAVAILABLE)
    log.error("database error", extra={"method": method, "error": str(err)})
    await context.abort(grpc.StatusCode.INTERNAL, m.MSG_INTERNAL)
    raise AssertionError("unreachable")


class UserServicer(users_pb2_grpc.UserServiceServicer):
    """The UserService over an AsyncStore."""

    def __init__(self, store: AsyncStore) -> None:
        self.store = store

    async def CreateUser(
        self, request: users_pb2.CreateUserRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.CreateUserResponse:
        try:
            email, name = validate_create(request)
        except InvalidArgument as err:
            await invalid_argument(context, err)
        try:
            user = await self.store.create(email, name)
        except Exception as err:
            await store_error(context, "CreateUser", "", err)
        return users_pb2.CreateUserResponse(user=to_proto(user))

    async def GetUser(
        self, request: users_pb2.GetUserRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.GetUserResponse:
        try:
            validate_id(request.id)
        except InvalidArgument as err:
            await invalid_argument(context, err)
        try:
            user = await self.store.get(request.id)
        except Exception as err:
            await store_error(context, "GetUser", request.id, err)
        return users_pb2.GetUserResponse(user=to_proto(user))

    async def ListUsers(
        self, request: users_pb2.ListUsersRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[users_pb2.ListUsersResponse]:
        try:
            page_size, after = validate_list(request)
        except InvalidArgument as err:
            await invalid_argument(context, err)
        try:
            # One more than the page tells whether another page follows.
            users = await self.store.list(after, page_size + 1)
        except Exception as err:
            await store_error(context, "ListUsers", "", err)
        next_token = ""
        if len(users) > page_size:
            users = users[:page_size]
            next_token = encode_page_token(users[-1].id)
        for user in users:
            yield users_pb2.ListUsersResponse(user=to_proto(user))
        yield users_pb2.ListUsersResponse(end=users_pb2.ListUsersEnd(next_page_token=next_token))

    async def UpdateUser(
        self, request: users_pb2.UpdateUserRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.UpdateUserResponse:
        try:
            id_, change = validate_update(request)
        except InvalidArgument as err:
            await invalid_argument(context, err)
        try:
            user = await self.store.update(id_, change)
        except Exception as err:
            await store_error(context, "UpdateUser", id_, err)
        return users_pb2.UpdateUserResponse(user=to_proto(user))

    async def DeleteUser(
        self, request: users_pb2.DeleteUserRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.DeleteUserResponse:
        try:
            validate_id(request.id)
        except InvalidArgument as err:
            await invalid_argument(context, err)
        try:
            await self.store.delete(request.id)
        except Exception as err:
            await store_error(context, "DeleteUser", request.id, err)
        return users_pb2.DeleteUserResponse()
