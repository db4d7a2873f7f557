"""The deployment files are valid for the protos and flags they target, pin
their images, and the Kubernetes ConfigMap matches the config files."""

import os

import pytest
import yaml
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from serving import cli
from serving.config_protos import BatchingParameters, MonitoringConfig

DEPLOY = os.path.join(os.path.dirname(cli.__file__), "deploy")


def read(name):
    with open(os.path.join(DEPLOY, name), encoding="utf-8") as handle:
        return handle.read()


def test_serving_is_the_real_package_not_the_tests_folder():
    import serving

    assert serving.__file__ == os.path.join(os.path.dirname(DEPLOY), "__init__.py")
    assert serving.__version__


def test_config_files_parse_as_tf_serving_protos():
    models = text_format.Parse(read("models.config"),
                               model_server_config_pb2.ModelServerConfig())
    assert [m.name for m in models.model_config_list.config] == ["sentiment", "emotion"]
    batching = text_format.Parse(read("batching_parameters.txt"), BatchingParameters())
    assert batching.max_batch_size.value == 32
    monitoring = text_format.Parse(read("monitoring.config"), MonitoringConfig())
    assert monitoring.prometheus_config.enable


def test_the_host_config_points_at_the_serving_roots_of_the_shipped_configs():
    import yaml as yaml_module

    repository = os.path.dirname(os.path.dirname(DEPLOY))
    local = text_format.Parse(read("models.local.config"), model_server_config_pb2.ModelServerConfig())
    in_containers = text_format.Parse(read("models.config"), model_server_config_pb2.ModelServerConfig())
    assert [m.name for m in local.model_config_list.config] == [m.name for m in in_containers.model_config_list.config]
    for model in local.model_config_list.config:
        config_file = os.path.join(repository, "configs", f"{model.name}.yaml")
        paths = yaml_module.safe_load(open(config_file))["paths"]
        serving_root = os.path.normpath(os.path.join(repository, "configs", paths["serving_root"]))
        assert os.path.join(repository, model.base_path) == os.path.join(serving_root, model.name)


def _flags_accepted_by_serve(args):
    context = cli.serve.make_context("serve", list(args) + ["--embedded"])
    return context.params


def test_compose_pins_images_and_uses_known_flags():
    compose = yaml.safe_load(read("docker-compose.yml"))
    services = compose["services"]
    assert services["serving"]["image"] == "tensorflow/serving:2.16.1"
    assert services["serving-gpu"]["image"] == "tensorflow/serving:2.16.1-gpu"
    assert services["serving-gpu"]["runtime"] == "nvidia"
    params = _flags_accepted_by_serve(services["serving"]["command"])
    assert params["enable_batching"] is True
    assert params["model_config_file"] == "/config/models.config"


@pytest.mark.parametrize("name, image, gpu", [
    ("k8s/serving-cpu.yaml", "tensorflow/serving:2.16.1", False),
    ("k8s/serving-gpu.yaml", "tensorflow/serving:2.16.1-gpu", True),
])
def test_kubernetes_manifests(name, image, gpu):
    deployment, service = yaml.safe_load_all(read(name))
    assert (deployment["kind"], service["kind"]) == ("Deployment", "Service")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == image
    probe = container["readinessProbe"]["httpGet"]
    assert probe["path"].startswith("/v1/models/") and probe["port"] == "rest"
    assert ("nvidia.com/gpu" in container["resources"]["limits"]) == gpu
    _flags_accepted_by_serve(container["args"])
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


def test_configmap_mirrors_config_files():
    configmap = yaml.safe_load(read("k8s/config.yaml"))
    for key in ("models.config", "batching_parameters.txt", "monitoring.config"):
        assert configmap["data"][key] == read(key), (
            f"k8s/config.yaml is out of date for {key}; copy the file into it")
    kustomization = yaml.safe_load(read("kustomization.yaml"))
    for resource in kustomization["resources"]:
        assert os.path.exists(os.path.join(DEPLOY, resource))


def test_compose_command_round_trips_through_launcher():
    """The real binary gets flags meaning the same (defaults may be omitted)."""
    from serving import launcher
    from serving.options import ServerOptions

    args = yaml.safe_load(read("docker-compose.yml"))["services"]["serving"]["command"]
    params = _flags_accepted_by_serve(args)
    params.pop("embedded")
    argv = launcher.binary_command("/usr/bin/tensorflow_model_server",
                                   ServerOptions(**params))
    reparsed = _flags_accepted_by_serve(argv[1:])
    reparsed.pop("embedded")
    assert reparsed == params
    assert set(argv[1:]) <= set(args)
