"""Code tests of the encoder's pretraining: what is hidden, that it learns, that the Trainer's model takes its
weights, the config's checks, and the cache key of its text."""
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tfx_pipeline.config import ConfigError, load_config
from trainer.model import ENCODER, build_model
from trainer.pretrain import WEIGHTS, hide_tokens, load_encoder, pretrain

ROOT = Path(__file__).resolve().parents[2]
HP = {"model": "cnn", "embedding_dim": 16, "conv_filters": 16, "kernel_sizes": [1, 3], "dropout": 0.1, "seed": 3,
      "learning_rate": 0.01}
SETTINGS = {"epochs": 4, "time_budget_seconds": 300, "batch_size": 64, "learning_rate": 0.01, "mask_rate": 0.15,
            "sampled_tokens": 32}


def test_a_share_of_real_tokens_is_hidden_and_padding_never():
    ids = tf.constant(np.where(np.arange(32) < 20, np.arange(1, 33), 0)[None].repeat(2000, axis=0), tf.int64)
    corrupted, hidden = hide_tokens(ids, 0.15, mask_id=99, vocab_rows=99, seed=tf.constant([1, 2]))
    hidden, corrupted = hidden.numpy(), corrupted.numpy()
    assert not hidden[:, 20:].any() and (corrupted[:, 20:] == 0).all()
    assert hidden[:, :20].mean() == pytest.approx(0.15, abs=0.01)
    masked = corrupted[hidden] == 99
    unchanged = corrupted[hidden] == ids.numpy()[hidden]
    assert masked.mean() == pytest.approx(0.8, abs=0.02)
    assert (~masked & ~unchanged).mean() == pytest.approx(0.1, abs=0.02)  # a random token (rarely the same one)
    assert (corrupted[~hidden] == ids.numpy()[~hidden]).all()


def _language(texts: int, vocab: int, seed: int = 0) -> np.ndarray:
    """Texts where each token is its predecessor plus one (mod vocab): a hidden token is named by its context."""
    rng = np.random.default_rng(seed)
    starts = rng.integers(1, vocab, texts)[:, None]
    return ((starts + np.arange(12)[None] - 1) % (vocab - 1) + 1).astype(np.int64)


def test_pretraining_learns_to_name_hidden_tokens_from_their_context():
    encoder, figures = pretrain(_language(3000, 60), vocab_rows=61, max_tokens=12, hp=HP, settings=SETTINGS)
    assert len(figures["epochs"]) == 4 and figures["texts"] == 3000 and figures["held_out_texts"] == 60
    assert figures["held_out_accuracy_before"] < 0.1
    assert figures["epochs"][-1]["held_out_accuracy"] > 0.8
    assert encoder.get_layer("embedding").input_dim == 62  # the vocabulary and the hidden token's row


def test_the_time_budget_stops_before_an_epoch_starts():
    _, figures = pretrain(_language(500, 30), vocab_rows=31, max_tokens=12, hp=HP,
                          settings={**SETTINGS, "time_budget_seconds": 0})
    assert len(figures["epochs"]) == 1


def test_the_classifier_starts_from_the_pretrained_encoder(tmp_path):
    encoder, _ = pretrain(_language(400, 30), vocab_rows=31, max_tokens=12, hp=HP, settings={**SETTINGS, "epochs": 1})
    encoder.save_weights(str(tmp_path / WEIGHTS))
    classifier = build_model(31, 3, 12, HP)
    assert not np.allclose(classifier.get_layer(ENCODER).get_layer("embedding").get_weights()[0],
                           encoder.get_layer("embedding").get_weights()[0])
    load_encoder(classifier, str(tmp_path), ENCODER)
    for mine, theirs in zip(classifier.get_layer(ENCODER).get_weights(), encoder.get_weights()):
        np.testing.assert_array_equal(mine, theirs)


def test_the_config_refuses_a_search_over_the_encoders_shape_and_a_missing_text_file(config_file):
    pretraining = {"enabled": True, "texts": [{"path": str(ROOT / "data" / "sst2.csv.xz"), "split_column": "split"}]}
    with pytest.raises(ConfigError, match=r"tuner\.search_space searches \['embedding_dim'\], which shape the "
                                          r"encoder"):
        load_config(config_file(pretraining=pretraining, tuner={"enabled": True,
                                                                "search_space": {"embedding_dim": [32, 64]}}))
    assert load_config(config_file(pretraining=pretraining, tuner={"enabled": True,
                                                                   "search_space": {"dropout": [0.2, 0.4]}}))
    with pytest.raises(ConfigError, match=r"pretraining\.texts\.0\.path: file .*nowhere\.csv does not exist"):
        load_config(config_file(pretraining={"texts": [{"path": "nowhere.csv"}]}))


def test_the_pretrainer_sits_before_the_trainer_and_its_key_follows_its_text(config_file, tmp_path):
    from tfx_pipeline.components.encoder_pretrainer import texts_key
    from tfx_pipeline.data.ingest import ingest
    from tfx_pipeline.pipeline import create_pipeline

    extra = tmp_path / "extra.csv"
    extra.write_text("text\nthe first unlabelled text\n")
    config = load_config(config_file(pretraining={"enabled": True, "texts": [{"path": str(extra)}]}))
    components = create_pipeline(config).components
    ids = [c.id for c in components]
    assert ids.index("transform") < ids.index("encoder_pretrainer") < ids.index("trainer")
    trainer = next(c for c in components if c.id == "trainer")
    assert "base_model" in trainer.inputs
    before = texts_key(config)
    assert texts_key(config) == before
    extra.write_text("text\nanother unlabelled text\n")
    changed = texts_key(config)
    assert changed != before
    ingest(config, sample=300)  # a new span
    assert texts_key(config) != changed
    logs = config.request_log_root / config.serving.model_name / "1"
    logs.mkdir(parents=True)
    with_span = texts_key(config)
    (logs / "requests-20261201T000000Z-1-0.tfrecord").write_bytes(b"")
    assert texts_key(config) != with_span
    unlogged = config.model_copy(update={"pretraining": config.pretraining.model_copy(update={"request_logs": False})})
    assert texts_key(unlogged) == with_span
    assert "encoder_pretrainer" not in [c.id for c in create_pipeline(
        load_config(config_file(pretraining={"enabled": False}))).components]
