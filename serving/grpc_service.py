"""gRPC PredictionService and ModelService on the official generated bases,
for grpc.server (threads) and for grpc.aio (coroutines)."""

import asyncio

from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

from serving import request_ids
from serving.errors import ServingError


def _guarded(method):
    """Turns ServingError into the gRPC status TF Serving would return."""

    def handler(self, request, context):
        try:
            return method(self, request)
        except ServingError as exc:
            context.abort(exc.code, exc.message)

    handler.__name__ = method.__name__
    return handler


def _identified(method):
    """_guarded, with the call's request id (returned in the initial metadata) for the request log."""

    def handler(self, request, context):
        request_id = request_ids.from_grpc(context)
        context.send_initial_metadata(((request_ids.HEADER, request_id),))
        try:
            return method(self, request, request_id)
        except ServingError as exc:
            context.abort(exc.code, exc.message)

    handler.__name__ = method.__name__
    return handler


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, core):
        self._core = core

    @_identified
    def Predict(self, request, request_id):
        return self._core.predict(request, request_id=request_id)

    @_identified
    def Classify(self, request, request_id):
        return self._core.classify(request, request_id=request_id)

    @_identified
    def Regress(self, request, request_id):
        return self._core.regress(request, request_id=request_id)

    @_identified
    def MultiInference(self, request, request_id):
        return self._core.multi_inference(request, request_id=request_id)

    @_guarded
    def GetModelMetadata(self, request):
        return self._core.model_metadata(request)


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, core):
        self._core = core

    @_guarded
    def GetModelStatus(self, request):
        return self._core.model_status(request)

    @_guarded
    def HandleReloadConfigRequest(self, request):
        return self._core.reload_config(request)


def add_services(server, core):
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionServicer(core), server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(
        ModelServicer(core), server)


def _guarded_async(method):
    async def handler(self, request, context):
        try:
            return await method(self, request)
        except ServingError as exc:
            await context.abort(exc.code, exc.message)

    handler.__name__ = method.__name__
    return handler


def _identified_async(method):
    async def handler(self, request, context):
        request_id = request_ids.from_grpc(context)
        await context.send_initial_metadata(((request_ids.HEADER, request_id),))
        try:
            return await method(self, request, request_id)
        except ServingError as exc:
            await context.abort(exc.code, exc.message)

    handler.__name__ = method.__name__
    return handler


class _Blocking:
    """Runs the core's blocking calls on a thread pool, off the event loop."""

    def __init__(self, core, pool):
        self._core = core
        self._pool = pool

    def _call(self, function, *args):
        return asyncio.get_running_loop().run_in_executor(self._pool, function, *args)


class AsyncPredictionServicer(_Blocking,
                              prediction_service_pb2_grpc.PredictionServiceServicer):
    @_identified_async
    async def Predict(self, request, request_id):
        return await self._core.predict_async(request, self._pool, request_id)

    @_identified_async
    async def Classify(self, request, request_id):
        return await self._call(self._core.classify, request, "GRPC", request_id)

    @_identified_async
    async def Regress(self, request, request_id):
        return await self._call(self._core.regress, request, "GRPC", request_id)

    @_identified_async
    async def MultiInference(self, request, request_id):
        return await self._call(self._core.multi_inference, request, "GRPC", request_id)

    @_guarded_async
    async def GetModelMetadata(self, request):
        return await self._call(self._core.model_metadata, request)


class AsyncModelServicer(_Blocking, model_service_pb2_grpc.ModelServiceServicer):
    @_guarded_async
    async def GetModelStatus(self, request):
        return await self._call(self._core.model_status, request)

    @_guarded_async
    async def HandleReloadConfigRequest(self, request):
        return await self._call(self._core.reload_config, request)


def add_async_services(server, core, pool):
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        AsyncPredictionServicer(core, pool), server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(
        AsyncModelServicer(core, pool), server)
