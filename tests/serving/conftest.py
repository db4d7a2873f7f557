"""Fixtures shared by the serving tests: session-wide tiny models and a
module-scoped server factory (embedded, or the real binary when installed)."""

import os
import sys

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# pytest puts tests/ on sys.path, where tests/serving/ (no __init__.py) would
# make `import serving` a namespace package instead of the real one; put the
# repository root first and drop any namespace import made before this ran.
_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if sys.path[0] != _REPO_ROOT:
    sys.path.insert(0, _REPO_ROOT)
if "serving" in sys.modules and not getattr(sys.modules["serving"], "__file__", None):
    for _name in [n for n in sys.modules if n == "serving" or n.startswith("serving.")]:
        del sys.modules[_name]

import serving_test_models as model_fixtures  # noqa: E402
from serving_test_helpers import start_binary, start_embedded  # noqa: E402


@pytest.fixture(scope="session")
def model_store(tmp_path_factory):
    """Built once per session: the templates every test copies from."""
    root = tmp_path_factory.mktemp("model_templates")
    return {
        "half_plus_two": model_fixtures.build_half_plus_two(str(root / "half_plus_two")),
        "half_plus_three": model_fixtures.build_half_plus_two(
            str(root / "half_plus_three"), b=3.0),
        "text": model_fixtures.build_text_model(str(root / "text")),
        "text_examples": model_fixtures.build_text_model(
            str(root / "text_examples"), example_input=True),
    }


@pytest.fixture(scope="module")
def start_server():
    """start_server(kind="embedded", **flags) -> Endpoint, stopped at module end."""
    started = []

    def start(kind="embedded", **flags):
        endpoint = (start_binary if kind == "binary" else start_embedded)(flags)
        started.append(endpoint)
        return endpoint

    yield start
    for endpoint in started:
        endpoint.close()
