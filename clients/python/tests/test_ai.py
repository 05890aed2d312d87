"""Tests of the AI API client's tensor helpers."""

import pytest
from polymesh.ai.v1 import ai_pb2
from polymesh_client.ai import output_values, rows_request, tensor, tensor_values


@pytest.mark.parametrize(
    ("datatype", "values", "field"),
    [
        ("FP32", [1, 2.5], "fp_values"),
        ("INT64", [3, 4], "int_values"),
        ("UINT8", [5], "int_values"),
        ("BOOL", [True, False], "bool_values"),
        ("BYTES", [b"a", "b"], "bytes_values"),
    ],
)
def test_tensor_puts_values_in_the_field_of_its_datatype(datatype, values, field):
    t = tensor("x", datatype, [len(values)], values)
    assert t.name == "x"
    assert list(t.shape) == [len(values)]
    assert len(getattr(t, field)) == len(values)
    assert len(tensor_values(t)) == len(values)


def test_tensor_rejects_an_unknown_datatype():
    with pytest.raises(ValueError, match="FP128"):
        tensor("x", "FP128", [1], [1.0])


def test_rows_request_and_output_values():
    request = rows_request("iris", [[1, 2], [3, 4]], "r1")
    assert request.model == "iris"
    assert request.id == "r1"
    assert [list(r.values) for r in request.rows] == [[1.0, 2.0], [3.0, 4.0]]
    response = ai_pb2.PredictResponse(model="iris", outputs=[tensor("label", "INT64", [2], [0, 2])])
    assert output_values(response, "label") == [0, 2]
    with pytest.raises(KeyError, match="probabilities"):
        output_values(response, "probabilities")
