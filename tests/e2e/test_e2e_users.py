"""The users API through the gateway: every RPC and its errors, one trace."""

from __future__ import annotations

import uuid

import grpc
import pytest
from google.protobuf import field_mask_pb2
from google.rpc import error_details_pb2, status_pb2
from polymesh.users.v1 import users_pb2, users_pb2_grpc


@pytest.fixture
def users(keyed):
    return users_pb2_grpc.UserServiceStub(keyed)


def email() -> str:
    return f"ada-{uuid.uuid4().hex[:8]}@example.com"


def details(error: grpc.RpcError) -> status_pb2.Status:
    return status_pb2.Status.FromString(dict(error.trailing_metadata())["grpc-status-details-bin"])


def test_create_get_update_list_delete(users):
    address = email()
    created = users.CreateUser(
        users_pb2.CreateUserRequest(email=address, name="  Ada Lovelace "), timeout=10
    ).user
    assert created.email == address and created.name == "Ada Lovelace"
    assert users.GetUser(users_pb2.GetUserRequest(id=created.id), timeout=10).user == created

    renamed = users.UpdateUser(
        users_pb2.UpdateUserRequest(
            user=users_pb2.User(id=created.id, name="Ada King"),
            update_mask=field_mask_pb2.FieldMask(paths=["name"]),
        ),
        timeout=10,
    ).user
    assert (renamed.name, renamed.email) == ("Ada King", address)

    seen, token = [], ""
    while True:
        page = list(
            users.ListUsers(users_pb2.ListUsersRequest(page_size=2, page_token=token), timeout=10)
        )
        assert page[-1].WhichOneof("item") == "end"
        seen += [item.user.id for item in page[:-1]]
        token = page[-1].end.next_page_token
        if not token:
            break
    assert created.id in seen and seen == sorted(seen)

    users.DeleteUser(users_pb2.DeleteUserRequest(id=created.id), timeout=10)
    with pytest.raises(grpc.RpcError) as raised:
        users.GetUser(users_pb2.GetUserRequest(id=created.id), timeout=10)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    info = error_details_pb2.ResourceInfo()
    assert details(raised.value).details[0].Unpack(info)
    assert info.resource_name == created.id


def test_errors_are_the_contracts(users):
    address = email()
    users.CreateUser(users_pb2.CreateUserRequest(email=address, name="Grace"), timeout=10)
    with pytest.raises(grpc.RpcError) as raised:
        users.CreateUser(users_pb2.CreateUserRequest(email=address, name="Grace"), timeout=10)
    assert raised.value.code() == grpc.StatusCode.ALREADY_EXISTS

    with pytest.raises(grpc.RpcError) as raised:
        users.CreateUser(users_pb2.CreateUserRequest(email="not an email", name="G"), timeout=10)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad = error_details_pb2.BadRequest()
    assert details(raised.value).details[0].Unpack(bad)
    assert [v.field for v in bad.field_violations] == ["email", "name"]

    with pytest.raises(grpc.RpcError) as raised:
        users.UpdateUser(
            users_pb2.UpdateUserRequest(user=users_pb2.User(id=str(uuid.uuid4()), name="Grace")),
            timeout=10,
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details().startswith("update_mask: ")
