"""The set of configured models: applies ModelServerConfig and resolves
ModelSpecs (name, version or version_label) to loaded versions."""

import logging
import threading

import grpc
from tensorflow_serving.apis import get_model_status_pb2

from serving.errors import ServingError, invalid_argument, not_found
from serving.options import is_uri
from serving.version_manager import ModelVersions

log = logging.getLogger(__name__)

State = get_model_status_pb2.ModelVersionStatus.State

_PLATFORMS = ("", "tensorflow")


def validate_config(config):
    """Rejects configs TF Serving would reject, before anything changes."""
    if config.WhichOneof("config") == "custom_model_config":
        raise ServingError(
            grpc.StatusCode.FAILED_PRECONDITION,
            "Cannot transition to requested config. It is only legal to "
            "transition from one ModelConfigList to another.")
    seen = set()
    for model in config.model_config_list.config:
        if not model.name:
            raise invalid_argument("Model config has no name specified.")
        if model.name in seen:
            raise invalid_argument(
                f"Illegal to list model {model.name} multiple times in config list")
        seen.add(model.name)
        if not model.base_path:
            raise invalid_argument(f"Model {model.name} has no base_path.")
        if is_uri(model.base_path):
            raise invalid_argument(
                f"Model {model.name} has base_path {model.base_path}: the embedded server reads local folders "
                "only; serve it with tensorflow_model_server (on PATH or $TF_SERVING_BINARY, which `serve` "
                "runs when installed), or copy its versions to a local folder")
        if model.model_platform not in _PLATFORMS:
            raise invalid_argument(
                f"Model {model.name} requests unsupported platform "
                f"{model.model_platform}")


class ModelRegistry:
    def __init__(self, loader, on_load=None, max_load_retries=5,
                 load_retry_interval=60.0, allow_unavailable_labels=False):
        self._loader = loader
        self._on_load = on_load
        self._retries = (max_load_retries, load_retry_interval)
        self._allow_unavailable_labels = allow_unavailable_labels
        # Readers (requests) take a snapshot of this dict; writers replace it,
        # so a request never waits behind a config change or a model load.
        self._models = {}
        self._change_lock = threading.RLock()

    def model(self, name):
        return self._models.get(name)

    def apply_config(self, config):
        """Replaces the whole model list, loading new models before returning."""
        validate_config(config)
        with self._change_lock:
            old = self._models
            old_configs = {name: m.config for name, m in old.items()}
            new = {}
            for model_config in config.model_config_list.config:
                current = old.get(model_config.name)
                if current is None:
                    current = ModelVersions(model_config, self._loader, self._on_load,
                                            *self._retries)
                else:
                    current.update_config(model_config)
                new[model_config.name] = current
            try:
                for model in new.values():
                    model.poll()
                if not self._allow_unavailable_labels:
                    self._check_labels(new)
            except Exception:
                # Leave the serving set exactly as it was before the attempt.
                for name, model in new.items():
                    if name in old_configs:
                        model.update_config(old_configs[name])
                    else:
                        model.retire_all(wait=False)
                raise
            self._models = new
            for name, model in old.items():
                if name not in new:
                    log.info("Unloading model %s removed from config", name)
                    model.retire_all(wait=False)

    @staticmethod
    def _check_labels(models):
        # TF Serving refuses labels that point at a version it cannot serve.
        for model in models.values():
            for version in model.config.version_labels.values():
                if not model.is_available(version):
                    raise ServingError(
                        grpc.StatusCode.FAILED_PRECONDITION,
                        f"Request to assign label to version {version} of model "
                        f"{model.name}, which is not currently available for "
                        "inference")

    def poll_all(self):
        with self._change_lock:
            for model in list(self._models.values()):
                model.poll()

    def retire_all(self):
        with self._change_lock:
            models, self._models = self._models, {}
        for model in models.values():
            model.retire_all(wait=True)

    def acquire(self, model_spec):
        """Handle for a ModelSpec, raising the same errors as TF Serving."""
        if not model_spec.name:
            raise invalid_argument("ModelSpec has no name specified.")
        model = self._models.get(model_spec.name)
        choice = model_spec.WhichOneof("version_choice")
        if choice == "version_label":
            label = model_spec.version_label
            version = None
            if model is not None:
                version = model.config.version_labels.get(label)
            if version is None:
                raise invalid_argument(
                    f"Unrecognized servable version label: {label}")
        elif choice == "version":
            version = model_spec.version.value
        else:
            version = None
        if model is None:
            request = (f"Latest({model_spec.name})" if version is None
                       else f"Specific({model_spec.name}, {version})")
            raise not_found(f"Servable not found for request: {request}")
        return model.acquire(version)

    def status(self, model_spec):
        """GetModelStatusResponse.model_version_status entries for a spec."""
        if not model_spec.name:
            raise invalid_argument("ModelSpec has no name specified.")
        model = self._models.get(model_spec.name)
        statuses = model.statuses() if model else []
        if model_spec.HasField("version"):
            wanted = model_spec.version.value
            statuses = [s for s in statuses if s[0] == wanted]
            if not statuses:
                raise not_found(
                    f"Could not find version {wanted} of model {model_spec.name}")
        elif not statuses:
            raise not_found(
                f"Could not find any versions of model {model_spec.name}")
        return statuses
