"""The gRPC servicer of inference.GRPCInferenceService: a thin layer over the data plane.

Errors become gRPC statuses here and only here, through errors.to_status.
"""

from __future__ import annotations

import functools
import logging
import time

import grpc
import grpc.aio
from inference import grpc_service_pb2 as pb
from inference import grpc_service_pb2_grpc as pb_grpc

from .converters import decode_request, encode_response
from .dataplane import DataPlane
from .errors import (
    INTERNAL_MESSAGE,
    InferenceError,
    InvalidParameter,
    RepositoryNotFound,
    error_kind,
    to_status,
)
from .metrics import UNKNOWN_MODEL

log = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name


def _statuses(method):
    """Answers an InferenceError with its status and anything else with INTERNAL."""

    @functools.wraps(method)
    async def wrapper(self, request, context: grpc.aio.ServicerContext):
        try:
            return await method(self, request, context)
        except grpc.aio.AbortError:
            raise
        except InferenceError as err:
            code, message = to_status(err)
            log.info(
                "call failed",
                extra={"method": method.__name__, "code": code.name, "reason": message},
            )
            await context.abort(code, message)
        except Exception:
            log.exception("unexpected error", extra={"method": method.__name__})
            await context.abort(grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE)

    return wrapper


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    """inference.GRPCInferenceService over a DataPlane."""

    def __init__(self, dataplane: DataPlane) -> None:
        self._dataplane = dataplane

    @_statuses
    async def ServerLive(self, request, context):
        return pb.ServerLiveResponse(live=self._dataplane.live())

    @_statuses
    async def ServerReady(self, request, context):
        return pb.ServerReadyResponse(ready=self._dataplane.ready())

    @_statuses
    async def ModelReady(self, request, context):
        return pb.ModelReadyResponse(
            ready=self._dataplane.model_ready(request.name, request.version)
        )

    @_statuses
    async def ServerMetadata(self, request, context):
        name, version, extensions = self._dataplane.metadata()
        return pb.ServerMetadataResponse(name=name, version=version, extensions=extensions)

    @_statuses
    async def ModelMetadata(self, request, context):
        model = self._dataplane.model_metadata(request.name, request.version)
        config = model.config
        tensor = pb.ModelMetadataResponse.TensorMetadata
        return pb.ModelMetadataResponse(
            name=config.name,
            versions=[config.version],
            platform=config.platform,
            inputs=[tensor(name=t.name, datatype=t.datatype, shape=t.shape) for t in config.inputs],
            outputs=[
                tensor(name=t.name, datatype=t.datatype, shape=t.shape) for t in config.outputs
            ],
        )

    @_statuses
    async def ModelInfer(self, request, context):
        arrival = time.perf_counter()
        model = self._model_label(request.model_name)
        try:
            decoded = decode_request(request)
            response = await self._dataplane.infer(decoded, arrival)
            message = encode_response(response, raw=decoded.raw_outputs)
        except Exception as err:
            code, _ = to_status(err)
            self._dataplane.metrics.observe_request(model, code, error_kind(err))
            raise
        self._dataplane.metrics.observe_request(model, grpc.StatusCode.OK)
        return message

    def _model_label(self, name: str) -> str:
        return name if self._dataplane.repository.find(name) is not None else UNKNOWN_MODEL

    @_statuses
    async def RepositoryIndex(self, request, context):
        self._check_repository(request.repository_name)
        entries = []
        for model in await self._dataplane.index():
            if request.ready and not model.ready:
                continue
            entries.append(
                pb.RepositoryIndexResponse.ModelIndex(
                    name=model.name,
                    version=model.config.version if model.config else "",
                    state=model.state,
                    reason=model.reason,
                )
            )
        return pb.RepositoryIndexResponse(models=entries)

    @_statuses
    async def RepositoryModelLoad(self, request, context):
        self._check_repository(request.repository_name)
        _check_parameters(request.parameters, LOAD_PARAMETERS, "RepositoryModelLoad")
        await self._dataplane.load(request.model_name)
        return pb.RepositoryModelLoadResponse()

    @_statuses
    async def RepositoryModelUnload(self, request, context):
        self._check_repository(request.repository_name)
        _check_parameters(request.parameters, UNLOAD_PARAMETERS, "RepositoryModelUnload")
        await self._dataplane.unload(request.model_name)
        return pb.RepositoryModelUnloadResponse()

    def _check_repository(self, name: str) -> None:
        """An empty repository name means any; another must be ours."""
        if name and name != self._dataplane.repository.name:
            raise RepositoryNotFound(name)


# Repository request parameters accepted, with their value field. Triton's
# `config` and file overrides of RepositoryModelLoad are not supported.
LOAD_PARAMETERS: dict[str, str] = {}
UNLOAD_PARAMETERS = {"unload_dependents": "bool_param"}  # no model has dependents here


def _check_parameters(parameters, accepted: dict[str, str], call: str) -> None:
    for key, parameter in parameters.items():
        if key not in accepted:
            raise InvalidParameter(f"{call}: parameter {key!r} is not supported")
        which = parameter.WhichOneof("parameter_choice")
        if which != accepted[key]:
            raise InvalidParameter(f"{call}: parameter {key!r} must be a {accepted[key]}")
