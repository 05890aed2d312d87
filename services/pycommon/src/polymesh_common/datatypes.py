"""The one table of the Open Inference Protocol's tensor datatypes: for each,
the numpy dtype of its elements and the InferTensorContents field that holds
it. The model server and the Python client both read it.

It needs numpy, the `tensors` extra of polymesh-common; nothing else in the
package imports this module.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Datatype:
    """One Open Inference Protocol tensor datatype."""

    name: str
    """The protocol's name, such as "FP32"."""
    dtype: np.dtype
    """The numpy dtype of its elements (object for BYTES)."""
    contents_field: str | None
    """The InferTensorContents field that holds it; None if only raw bytes can."""


def _table(*rows: tuple[str, str | type, str | None]) -> dict[str, Datatype]:
    return {name: Datatype(name, np.dtype(dtype), field) for name, dtype, field in rows}


DATATYPES: dict[str, Datatype] = _table(
    ("BOOL", np.bool_, "bool_contents"),
    ("UINT8", np.uint8, "uint_contents"),
    ("UINT16", np.uint16, "uint_contents"),
    ("UINT32", np.uint32, "uint_contents"),
    ("UINT64", np.uint64, "uint64_contents"),
    ("INT8", np.int8, "int_contents"),
    ("INT16", np.int16, "int_contents"),
    ("INT32", np.int32, "int_contents"),
    ("INT64", np.int64, "int64_contents"),
    ("FP16", np.float16, None),
    ("FP32", np.float32, "fp32_contents"),
    ("FP64", np.float64, "fp64_contents"),
    ("BYTES", object, "bytes_contents"),
)

CONTENTS_FIELDS: tuple[str, ...] = tuple(
    sorted({d.contents_field for d in DATATYPES.values() if d.contents_field})
)


def from_numpy(dtype: np.dtype) -> Datatype:
    """The datatype of a numpy dtype: BYTES for object, bytes and str arrays.

    Raises ValueError for a dtype the protocol has no datatype for."""
    if dtype.kind in "OSU":
        return DATATYPES["BYTES"]
    for datatype in DATATYPES.values():
        if datatype.dtype == dtype:
            return datatype
    raise ValueError(f"no Open Inference Protocol datatype for numpy dtype {dtype}")
