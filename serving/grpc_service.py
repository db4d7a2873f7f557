"""gRPC PredictionService and ModelService on the official generated bases."""

from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

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


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, core):
        self._core = core

    @_guarded
    def Predict(self, request):
        return self._core.predict(request)

    @_guarded
    def Classify(self, request):
        return self._core.classify(request)

    @_guarded
    def Regress(self, request):
        return self._core.regress(request)

    @_guarded
    def MultiInference(self, request):
        return self._core.multi_inference(request)

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
