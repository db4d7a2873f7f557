"""Front-end-independent request handling: resolves the model version, runs
the protocol operation, and records metrics and sampled request logs. The
gRPC servicers and the REST handler are thin adapters over this class."""

import asyncio
import contextlib
import logging
import time

import grpc
from tensorflow_serving.apis import get_model_status_pb2, model_management_pb2

from serving import inference
from serving.errors import ServingError, invalid_argument

log = logging.getLogger(__name__)


def _require_spec(request):
    if not request.HasField("model_spec"):
        raise invalid_argument("Missing ModelSpec")


class ServingCore:
    def __init__(self, registry, batcher=None, metrics=None, request_logger=None,
                 check_method_name=False, limits=inference.DEFAULT_LIMITS):
        self.registry = registry
        self._limits = limits
        self._check = check_method_name
        self._batcher = batcher
        self._metrics = metrics
        self._request_logger = request_logger

    def _runner(self, servable, api):
        """How `api` runs the model: Predict through the batcher when batching is on (which reports each task's
        time in the model, not in its queue), else servable.run, timed here."""
        if self._batcher and api == "Predict":
            return self._batcher.runner(servable)
        if not self._metrics:
            return servable.run

        def timed(*args):
            start = time.perf_counter()
            try:
                return servable.run(*args)
            finally:
                self._metrics.observe_runtime(servable.name, api,
                                              time.perf_counter() - start)
        return timed

    @contextlib.contextmanager
    def _observed(self, api, entrypoint, model_name):
        """Request metrics, and unexpected errors turned into INTERNAL."""
        start = time.perf_counter()
        status = "OK"
        try:
            yield
        except ServingError as exc:
            status = exc.code.name
            raise
        except Exception as exc:
            status = grpc.StatusCode.INTERNAL.name
            log.exception("%s failed", api)
            raise ServingError(grpc.StatusCode.INTERNAL, str(exc)) from None
        except BaseException:  # the asyncio front end cancels abandoned calls
            status = grpc.StatusCode.CANCELLED.name
            raise
        finally:
            if self._metrics:
                self._metrics.observe_request(model_name, api, entrypoint, status,
                                              time.perf_counter() - start)

    def _log(self, model, log_kind, request, response, request_id):
        if self._request_logger and log_kind and model is not None:
            self._request_logger.log(model.config, log_kind, request, response, request_id)

    def _serve(self, api, entrypoint, request, spec, operation, log_kind, request_id=""):
        with self._observed(api, entrypoint, spec.name):
            with self.registry.acquire(spec) as handle:
                response = operation(handle.servable)
                model = self.registry.model(spec.name)
            self._log(model, log_kind, request, response, request_id)
            return response

    def predict(self, request, entrypoint="GRPC", request_id=""):
        _require_spec(request)
        return self._serve(
            "Predict", entrypoint, request, request.model_spec,
            lambda s: inference.predict(s, request, self._runner(s, "Predict"), self._limits),
            "predict_log", request_id)

    async def predict_async(self, request, pool, request_id=""):
        """Predict for the asyncio gRPC front end. With batching, validation
        and the response run on the event loop and only the model waits, as
        a batched task; without, the whole call runs on `pool`."""
        if self._batcher is None:
            return await asyncio.get_running_loop().run_in_executor(
                pool, self.predict, request, "GRPC", request_id)
        _require_spec(request)
        spec = request.model_spec
        with self._observed("Predict", "GRPC", spec.name):
            with self.registry.acquire(spec) as handle:
                servable = handle.servable
                name, signature, inputs, keys = inference.prepare_predict(
                    servable, request, self._limits)
                outputs = await self._batcher.submit_async(servable, name, inputs,
                                                           keys, pool)
                response = inference.predict_response(servable, name, signature,
                                                      keys, outputs)
                model = self.registry.model(spec.name)
            self._log(model, "predict_log", request, response, request_id)
            return response

    def classify(self, request, entrypoint="GRPC", request_id=""):
        _require_spec(request)
        return self._serve("Classify", entrypoint, request, request.model_spec,
                           lambda s: inference.classify(s, request, self._check,
                                                        self._runner(s, "Classify"), self._limits),
                           "classify_log", request_id)

    def regress(self, request, entrypoint="GRPC", request_id=""):
        _require_spec(request)
        return self._serve("Regress", entrypoint, request, request.model_spec,
                           lambda s: inference.regress(s, request, self._check,
                                                       self._runner(s, "Regress"), self._limits),
                           "regress_log", request_id)

    def multi_inference(self, request, entrypoint="GRPC", request_id=""):
        inference.check_multi_inference(request)
        return self._serve(
            "MultiInference", entrypoint, request, request.tasks[0].model_spec,
            lambda s: inference.multi_inference(s, request, self._check,
                                                self._runner(s, "MultiInference"), self._limits),
            "multi_inference_log", request_id)

    def model_metadata(self, request, entrypoint="GRPC", request_id=""):
        _require_spec(request)
        return self._serve("GetModelMetadata", entrypoint, request,
                           request.model_spec,
                           lambda s: inference.model_metadata(s, request), None)

    def signature_defs(self, spec):
        """The SignatureDefs of the version a ModelSpec names (the REST API types its JSON with them)."""
        with self.registry.acquire(spec) as handle:
            return handle.servable.signature_defs

    def label_version(self, model_name, label):
        model = self.registry.model(model_name)
        version = model.config.version_labels.get(label) if model else None
        if version is None:
            raise invalid_argument(f"Unrecognized servable version label: {label}")
        return version

    def model_status(self, request):
        _require_spec(request)
        response = get_model_status_pb2.GetModelStatusResponse()
        for version, state, error in self.registry.status(request.model_spec):
            entry = response.model_version_status.add(version=version, state=state)
            entry.status.SetInParent()  # TF Serving always reports a status, OK included
            if error is not None:
                entry.status.error_code = error.code.value[0]
                entry.status.error_message = error.message
        return response

    def reload_config(self, request):
        response = model_management_pb2.ReloadConfigResponse()
        try:
            self.registry.apply_config(request.config)
        except ServingError as exc:
            response.status.error_code = exc.code.value[0]
            response.status.error_message = exc.message
            raise
        return response
