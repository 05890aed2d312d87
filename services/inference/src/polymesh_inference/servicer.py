"""The gRPC servicer of inference.GRPCInferenceService: a thin layer over the data plane.

Errors become gRPC statuses here and only here, through errors.to_status.
"""

from __future__ import annotations

import functools
import logging

import grpc
import grpc.aio
from inference import grpc_service_pb2 as pb
from inference import grpc_service_pb2_grpc as pb_grpc

from .converters import decode_request, encode_response
from .dataplane import DataPlane
from .errors import INTERNAL_MESSAGE, InferenceError, to_status

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
        response = await self._dataplane.infer(decode_request(request))
        return encode_response(response)

    @_statuses
    async def RepositoryIndex(self, request, context):
        entries = []
        for model in self._dataplane.index():
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
