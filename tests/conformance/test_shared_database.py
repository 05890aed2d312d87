"""One schema for both languages: a database file written by one service is
served unchanged by the other, users, times and migrations included."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from google.protobuf import field_mask_pb2
from polymesh.users.v1 import users_pb2, users_pb2_grpc

from .answers import list_users, table_rows, unary
from .conftest import start_service


@pytest.mark.parametrize(("first", "second"), [("go", "python"), ("python", "go")])
def test_the_other_service_serves_the_same_file(tmp_path: Path, first: str, second: str) -> None:
    writer = start_service(first, tmp_path / "one")
    try:
        with writer.channel() as channel:
            stub = users_pb2_grpc.UserServiceStub(channel)
            made = [
                unary(stub, "CreateUser", users_pb2.CreateUserRequest(email=e, name=n))
                for e, n in [("ada@example.com", "Ada"), ("alan@example.com", "Alan")]
            ]
            ada = made[0].responses[0].user
            changed = unary(
                stub,
                "UpdateUser",
                users_pb2.UpdateUserRequest(
                    user=users_pb2.User(id=ada.id, name="Ada Lovelace"),
                    update_mask=field_mask_pb2.FieldMask(paths=["name"]),
                ),
            )
            assert changed.code == grpc.StatusCode.OK
            before = list_users(stub, users_pb2.ListUsersRequest()).responses
    finally:
        assert writer.stop() == 0
    rows = table_rows(writer.db)

    # The second service opens the first one's file: nothing to migrate.
    folder = tmp_path / "two"
    folder.mkdir()
    for suffix in ("", "-wal", "-shm"):
        source = writer.db.with_name(writer.db.name + suffix)
        if source.exists():
            (folder / source.name).write_bytes(source.read_bytes())
    reader = start_service(second, folder)
    try:
        with reader.channel() as channel:
            stub = users_pb2_grpc.UserServiceStub(channel)
            after = list_users(stub, users_pb2.ListUsersRequest()).responses
            assert after == before
            got = unary(stub, "GetUser", users_pb2.GetUserRequest(id=ada.id))
            assert got.responses[0].user == changed.responses[0].user
            taken = unary(
                stub, "CreateUser", users_pb2.CreateUserRequest(email="alan@example.com", name="Al")
            )
            assert taken.code == grpc.StatusCode.ALREADY_EXISTS
    finally:
        assert reader.stop() == 0
    assert table_rows(reader.db) == rows
