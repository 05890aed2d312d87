"""The Open Inference Protocol's datatype table, against the protocol's own
message: every typed contents field it names exists, numpy dtypes map back
to the datatype they come from, and it agrees with the fact the Go table is
tested against too (services/testdata/datatypes.json)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from inference import grpc_service_pb2 as pb
from polymesh_common.datatypes import CONTENTS_FIELDS, DATATYPES, from_numpy


def test_contents_fields_are_those_of_the_protocol():
    fields = set(pb.InferTensorContents.DESCRIPTOR.fields_by_name)
    assert set(CONTENTS_FIELDS) == fields
    for datatype in DATATYPES.values():
        assert datatype.contents_field is None or datatype.contents_field in fields


SHARED_TABLE = Path(__file__).resolve().parents[2] / "testdata" / "datatypes.json"

# numpy's dtype kinds by the shared table's names for them.
KINDS = {"bool": "b", "uint": "u", "int": "i", "float": "f", "bytes": "O"}


def test_agrees_with_the_shared_table():
    rows = json.loads(SHARED_TABLE.read_text())["datatypes"]
    assert [row["name"] for row in rows] == list(DATATYPES)
    for row in rows:
        datatype = DATATYPES[row["name"]]
        assert datatype.dtype.kind == KINDS[row["kind"]], row
        assert datatype.contents_field == row["contents_field"], row
        size = None if datatype.dtype.kind == "O" else datatype.dtype.itemsize
        assert size == row["size"], row


@pytest.mark.parametrize("name", sorted(DATATYPES))
def test_from_numpy_is_the_inverse_of_the_table(name):
    assert from_numpy(DATATYPES[name].dtype).name == name


@pytest.mark.parametrize(
    "array", [np.array([b"a"]), np.array(["a"]), np.array([b"a"], dtype=object)]
)
def test_bytes_and_str_arrays_are_bytes(array):
    assert from_numpy(array.dtype).name == "BYTES"


@pytest.mark.parametrize("dtype", [np.complex64, np.dtype("datetime64[s]")])
def test_a_dtype_without_a_datatype_is_a_clear_error(dtype):
    with pytest.raises(ValueError, match="no Open Inference Protocol datatype for numpy dtype"):
        from_numpy(np.dtype(dtype))
