"""Operating the served model: one workspace for the whole session, version 1 of a sample of the default corpus
trained and served the way `mlops serve` serves it (request logging on, the monitor's gauges). test_1_monitoring.py
monitors it and lets it retrain (version 2); test_2_model_management.py then manages the two versions."""
import csv
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
for _path in (str(TESTS / "orchestration"), str(TESTS / "e2e"), str(TESTS)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from orchestration_helpers import corpus_rows, write_config  # noqa: E402
from pipeline_helpers import FAST_TRAINER, effective_config, run_cli, version_dirs  # noqa: E402

SAMPLE = 1200
THRESHOLDS = {"accuracy": {"lower_bound": 0.30, "max_drop": 0.2}, "macro_f1": {"lower_bound": 0.10, "max_drop": 0.2}}
POLICY = {"enabled": True, "on_drift": True, "min_new_rows": 100, "cooldown": "1h", "runner": "local"}


@pytest.fixture(scope="session")
def served(tmp_path_factory):
    from serving.client import GrpcClient
    from serving.options import ServerOptions
    from serving.server import ModelServer
    from tfx_pipeline.cli.serving import _monitoring_flags

    folder = tmp_path_factory.mktemp("monitoring")
    config_path = write_config(folder / "config.yaml", "sentiment", trainer=FAST_TRAINER,
                               evaluation={"thresholds": THRESHOLDS}, monitoring={"retrain": POLICY})
    first = run_cli("run", "--config", str(config_path), "--sample", str(SAMPLE))
    assert first.exit_code == 0, first.output
    config = effective_config(config_path, SAMPLE)
    # The server `mlops serve` starts: its request logging and gauges are the config's.
    server = ModelServer(ServerOptions(port=0, model_name="sentiment", model_base_path=str(config.push_root),
                                       **_monitoring_flags(config))).start()
    in_span = set()
    for split in ("train", "eval", "test"):
        with open(config.paths.data_root / "span-1" / split / "data.csv", newline="") as handle:
            in_span |= {r["text"] for r in csv.DictReader(handle)}
    held_out = [(t, l) for t, l in corpus_rows() if t not in in_span]
    state = {"config": config, "config_path": config_path, "server": server, "held_out": held_out, "sample": SAMPLE,
             "client": GrpcClient("127.0.0.1", server.grpc_port, retries=0, timeout=30.0),
             "v1": int(version_dirs(config.push_root)[-1].name)}
    yield state
    state["client"].close()
    server.stop(grace=0)


