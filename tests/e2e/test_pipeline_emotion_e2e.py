"""End-to-end on a sample of dair_emotion: switching task is switching config file, nothing else."""
from pathlib import Path

import pytest

from pipeline_helpers import (FAST_TRAINER, SAMPLE_THRESHOLDS, effective_config, predict_in_process, report,
                              run_cli, states, version_dirs)

SAMPLE = 1500
LABELS = {"sadness", "joy", "love", "anger", "fear", "surprise"}

pytestmark = pytest.mark.e2e


def test_emotion_config_runs_end_to_end_and_pushes(tmp_path):
    from pipeline_configs import write_config

    config_path = write_config(tmp_path / "emotion.yaml", "emotion", trainer=FAST_TRAINER,
                               evaluation={"thresholds": SAMPLE_THRESHOLDS})
    result = run_cli("run", "--config", str(config_path), "--sample", str(SAMPLE))
    assert result.exit_code == 0, result.output
    config = effective_config(config_path, SAMPLE)
    # The published split is kept: validation becomes eval, and all three splits hold rows.
    assert "rows per split: train" in result.output
    run = report(config)
    assert set(states(run).values()) == {"ran"}, states(run)
    assert run.blessed is True
    versions = version_dirs(config.push_root)
    assert len(versions) == 1 and config.push_root.name == "emotion"
    results = predict_in_process(versions[0], ["i feel so happy and grateful today", "i am terrified of the dark"])
    assert {label for label, _ in results} <= LABELS
    assert all(set(scores) == LABELS for _, scores in results)


def test_no_threshold_refuses_to_bless_and_says_why(tmp_path):
    from pipeline_configs import write_config

    config_path = write_config(tmp_path / "emotion.yaml", "emotion", trainer=FAST_TRAINER,
                               evaluation={"thresholds": {}})
    result = run_cli("run", "--config", str(config_path), "--sample", "300")
    assert result.exit_code == 3, result.output  # not blessed, nothing pushed
    config = effective_config(config_path, 300)
    run = report(config)
    assert run.blessed is False and "pusher" not in states(run)
    assert "blessing: NOT BLESSED (no threshold configured in evaluation.thresholds: refusing to bless)" \
        in result.output
    assert version_dirs(config.push_root) == []


def test_schema_propose_writes_the_inferred_schema_beside_the_curated_one(tmp_path):
    import shutil

    from pipeline_configs import write_config

    schema = tmp_path / "schema" / "schema.pbtxt"
    schema.parent.mkdir()
    shutil.copyfile(Path(__file__).resolve().parents[2] / "schema" / "emotion" / "schema.pbtxt", schema)
    config_path = write_config(tmp_path / "emotion.yaml", "emotion", schema_file=str(schema))
    result = run_cli("schema", "propose", "--config", str(config_path), "--sample", "300")
    assert result.exit_code == 0, result.output
    proposed = tmp_path / "schema" / "schema.proposed.pbtxt"
    assert f"proposed schema written to {proposed}" in result.output
    text = proposed.read_text()
    assert 'name: "text"' in text and 'name: "label"' in text and 'value: "sadness"' in text
    # A pipeline of its own: the training pipeline has still never run here.
    shown = run_cli("report", "--config", str(config_path), "--sample", "300")
    assert shown.exit_code == 1 and "no run of pipeline 'emotion' recorded in" in shown.output, shown.output
