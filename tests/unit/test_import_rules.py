"""Code tests: the architecture's import rules, read from the source with `ast` (nothing is imported).

- serving/ serves any SavedModel: it imports nothing of the pipeline, the trainer or the runners;
- trainer/ is model code named by entry point: of the project it imports only the feature contract;
- runners/ only bind a config to create_pipeline: of tfx_pipeline they import the config, the locations it
  holds and the pipeline;
- tfx_pipeline/ never imports trainer/ (TFX loads model code by entry point), and only its CLI starts runners;
- tfx_pipeline/monitoring/ and registry/ operate a served model beside its server: they never import TFX, and
  registry/ (what `mlops models list` runs) not TensorFlow either, only the serving protocol's protos.
"""
import ast
from pathlib import Path
from typing import Iterator, List, Tuple

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ("serving", "trainer", "runners", "tfx_pipeline")
FEATURE_CONTRACT = "tfx_pipeline.features"
RUNNER_MAY_IMPORT = ("tfx_pipeline.config", "tfx_pipeline.locations", "tfx_pipeline.pipeline")
OPERATING_LAYERS = {"monitoring": ("tfx",), "registry": ("tfx", "tensorflow")}


def imported_modules(path: Path, package: str) -> Iterator[Tuple[int, str]]:
    """(line, module) for each import of a file; `from a import b` yields a.b, so `from tfx_pipeline import
    features` names the module it imports."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}" if base else alias.name


def _top(module: str) -> str:
    return module.split(".")[0]


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def rule_broken(layer: str, relative: Path, module: str) -> str:
    """Why importing `module` from the file `relative` (under layer/) breaks a rule, or ""."""
    top = _top(module)
    beside_a_server = layer == "tfx_pipeline" and relative.parts[0] in OPERATING_LAYERS
    if beside_a_server and top in OPERATING_LAYERS[relative.parts[0]]:
        return f"tfx_pipeline/{relative.parts[0]}/ must not import {top}: it runs beside a server, not in a pipeline"
    if top not in PROJECT:
        return ""  # the standard library or a third-party package
    if layer == "serving":
        return "" if top == "serving" else "serving/ must not import the pipeline, the trainer or the runners"
    if layer == "trainer":
        if top == "trainer" or module == "tfx_pipeline" or _within(module, FEATURE_CONTRACT):
            return ""
        return f"trainer/ may import only {FEATURE_CONTRACT} of the project"
    if layer == "runners":
        if top == "runners" or module == "tfx_pipeline" or any(_within(module, m) for m in RUNNER_MAY_IMPORT):
            return ""
        return "runners/ only bind a config to create_pipeline (tfx_pipeline.config, .locations, .pipeline)"
    if top == "trainer":
        return "tfx_pipeline/ must not import trainer/: TFX loads model code by entry point"
    if top == "runners" and relative.parts[0] != "cli":
        return "only tfx_pipeline/cli/ may import runners/"
    return ""


def violations(root: Path = ROOT) -> List[str]:
    found = []
    for layer in PROJECT:
        for path in sorted((root / layer).rglob("*.py")):
            relative = path.relative_to(root / layer)
            package = ".".join((layer, *relative.parent.parts))
            for line, module in imported_modules(path, package):
                why = rule_broken(layer, relative, module)
                if why:
                    found.append(f"{path.relative_to(root)}:{line} imports {module}: {why}")
    return found


def test_the_project_keeps_its_import_rules():
    assert violations() == []


def test_a_forbidden_import_in_a_new_file_is_reported(tmp_path):
    for layer in PROJECT:
        (tmp_path / layer).mkdir()
    (tmp_path / "serving" / "sneaky.py").write_text("from tfx_pipeline.config import load_config\n")
    (tmp_path / "trainer" / "model.py").write_text("from tfx_pipeline import features\nimport tfx_pipeline.pipeline\n")
    (tmp_path / "runners" / "runner.py").write_text(
        "from tfx_pipeline.pipeline import create_pipeline\nfrom tfx_pipeline.data import ingest\n")
    (tmp_path / "tfx_pipeline" / "components").mkdir()
    (tmp_path / "tfx_pipeline" / "components" / "pusher.py").write_text(
        "from ..features import TEXT\nfrom trainer import model\nfrom runners import local_runner\n")
    (tmp_path / "tfx_pipeline" / "cli").mkdir()
    (tmp_path / "tfx_pipeline" / "cli" / "run.py").write_text("from runners import local_runner\n")
    (tmp_path / "tfx_pipeline" / "registry").mkdir()
    (tmp_path / "tfx_pipeline" / "registry" / "versions.py").write_text(
        "from tensorflow_serving.apis import model_pb2\nimport tensorflow as tf\n")
    (tmp_path / "tfx_pipeline" / "monitoring").mkdir()
    (tmp_path / "tfx_pipeline" / "monitoring" / "drift.py").write_text(
        "import tensorflow_data_validation\nfrom tfx.types import standard_artifacts\n")
    found = violations(tmp_path)
    assert found == [
        "serving/sneaky.py:1 imports tfx_pipeline.config.load_config: serving/ must not import the pipeline, "
        "the trainer or the runners",
        "trainer/model.py:2 imports tfx_pipeline.pipeline: trainer/ may import only tfx_pipeline.features of the "
        "project",
        "runners/runner.py:2 imports tfx_pipeline.data.ingest: runners/ only bind a config to create_pipeline "
        "(tfx_pipeline.config, .locations, .pipeline)",
        "tfx_pipeline/components/pusher.py:2 imports trainer.model: tfx_pipeline/ must not import trainer/: TFX "
        "loads model code by entry point",
        "tfx_pipeline/components/pusher.py:3 imports runners.local_runner: only tfx_pipeline/cli/ may import "
        "runners/",
        "tfx_pipeline/monitoring/drift.py:2 imports tfx.types.standard_artifacts: tfx_pipeline/monitoring/ must not "
        "import tfx: it runs beside a server, not in a pipeline",
        "tfx_pipeline/registry/versions.py:2 imports tensorflow: tfx_pipeline/registry/ must not import tensorflow: "
        "it runs beside a server, not in a pipeline",
    ]
