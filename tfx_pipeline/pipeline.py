"""The pipeline: one create_pipeline(config) that every runner (local, Airflow, Kubeflow) uses.

Model code is named by entry point (config.transform.preprocessing_fn, config.trainer.run_fn), so this module
never imports it and TFX never has to package it.
"""
from __future__ import annotations

from typing import List

from tfx import v1 as tfx
from tfx.dsl.components.base import executor_spec

from tfx_pipeline import features
from tfx_pipeline.components import window_transform
from tfx_pipeline.components.atomic_pusher import AtomicPusher
from tfx_pipeline.components.baseline_strategy import LatestBlessedOtherModelStrategy
from tfx_pipeline.components.data_gate import DataGate
from tfx_pipeline.components.encoder_pretrainer import EncoderPretrainer
from tfx_pipeline.components.ids import (BASELINE_RESOLVER, DATA_GATE, ENCODER_PRETRAINER, EVALUATOR, EXAMPLE_GEN,
                                         EXAMPLE_VALIDATOR, PROVENANCE, PUSHER, SCHEMA_IMPORTER, SPAN_WINDOW_RESOLVER,
                                         STATISTICS_GEN, TRAINER, TRANSFORM, TUNER)
from tfx_pipeline.components.provenance import RunProvenance
from tfx_pipeline.components.span_window import EXAMPLES, ValidatedSpanWindowStrategy
from tfx_pipeline.config import PipelineConfig, duration_seconds
from tfx_pipeline.data.spans import span_input_patterns
from tfx_pipeline.evaluation.eval_config import eval_config
from tfx_pipeline.metadata.store import as_text, connection_config
from tfx_pipeline.provenance import run_facts

# Real texts replayed by the model server before a new version takes traffic.
WARMUP_REQUESTS = 5


def example_gen_component(config: PipelineConfig) -> tfx.components.CsvExampleGen:
    # Ingestion writes each split to its own folder (see tfx_pipeline/data/spans.py); with {SPAN} in the
    # patterns, ExampleGen reads the latest span.
    input_config = tfx.proto.Input(splits=[tfx.proto.Input.Split(name=name, pattern=pattern)
                                           for name, pattern in span_input_patterns().items()])
    return tfx.components.CsvExampleGen(
        input_base=str(config.paths.data_root), input_config=input_config).with_id(EXAMPLE_GEN)


def span_window_resolver(config: PipelineConfig, data_gate) -> tfx.dsl.Resolver:
    # A channel by producer id, not ExampleGen's output channel, so the resolver sees earlier runs' spans too.
    resolver = tfx.dsl.Resolver(
        strategy_class=ValidatedSpanWindowStrategy,
        config={"num_spans": config.data.span_window, "gate_type": data_gate.type},
        examples=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Examples, producer_component_id=EXAMPLE_GEN,
                                 output_key=EXAMPLES),
    ).with_id(SPAN_WINDOW_RESOLVER)
    # After this run's gate, so the newest span is in the window once (and only if) it passed.
    resolver.add_upstream_node(data_gate)
    return resolver


def _baseline_resolver(trainer, tfx_strategy_only: bool) -> tfx.dsl.Resolver:
    history = {"model": tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
               "model_blessing": tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing)}
    if tfx_strategy_only:
        # Kubeflow V2 compiles only TFX's own resolver strategies. The cost: an unchanged re-run compares the
        # model with itself, so the Evaluator runs again (the decision and what is pushed do not change).
        return tfx.dsl.Resolver(strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
                                **history).with_id(BASELINE_RESOLVER)
    return tfx.dsl.Resolver(strategy_class=LatestBlessedOtherModelStrategy, candidate=trainer.outputs["model"],
                            **history).with_id(BASELINE_RESOLVER)


def create_pipeline(config: PipelineConfig, *, tfx_strategy_only: bool = False) -> tfx.dsl.Pipeline:
    """The pipeline for `config`. tfx_strategy_only: use only TFX's built-in resolver strategies (Kubeflow V2)."""
    example_gen = example_gen_component(config)
    statistics_gen = tfx.components.StatisticsGen(
        examples=example_gen.outputs["examples"]).with_id(STATISTICS_GEN)
    schema_importer = tfx.components.ImportSchemaGen(
        schema_file=str(config.schema_file)).with_id(SCHEMA_IMPORTER)
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"],
        schema=schema_importer.outputs["schema"]).with_id(EXAMPLE_VALIDATOR)
    # The statistics and the schema let the gate refuse a single-label split and compare the label distribution
    # with the previous validated span's, found in ML Metadata (components/data_gate.py).
    data_gate = DataGate(anomalies=example_validator.outputs["anomalies"],
                         statistics=statistics_gen.outputs["statistics"], schema_file=str(config.schema_file),
                         metadata_connection=as_text(connection_config(config, readonly=True,
                                                                       with_password=False)),
                         metadata_password_env=config.metadata.password_env or "",
                         data_root=str(config.paths.data_root)).with_id(DATA_GATE)
    window = [span_window_resolver(config, data_gate)] if config.data.span_window > 1 else []
    # What Transform, Trainer and Evaluator see: the latest span, or the window of validated spans.
    examples = window[0].outputs[EXAMPLES] if window else example_gen.outputs["examples"]

    transform = tfx.components.Transform(
        examples=examples,
        schema=schema_importer.outputs["schema"],
        preprocessing_fn=config.transform.preprocessing_fn,
        custom_config={"labels": list(config.labels), **config.transform.model_dump(exclude={"preprocessing_fn"})},
        # StatisticsGen already describes the raw data; Transform's own pre/post statistics would be a second
        # TFDV pass over every example that nothing downstream reads.
        disable_statistics=True,
    ).with_id(TRANSFORM)
    transform.add_upstream_node(data_gate)
    if window:
        # Several Examples in: under the legacy (Airflow) launcher, TFX's executor would hand the Trainer a stray
        # artifact besides one per span (see the module).
        transform.executor_spec = executor_spec.BeamExecutorSpec(window_transform.Executor)

    model_config = {
        "labels": list(config.labels),
        "max_tokens": config.transform.max_tokens,
        "oov_buckets": config.transform.oov_buckets,
        "char_ngrams": config.transform.char_ngrams.model_dump(),
        "hyperparameters": config.trainer.hyperparameters.model_dump(),
    }
    tuner = []
    if config.tuner.enabled:
        search = config.tuner.model_dump(exclude={"enabled", "tuner_fn"})
        search["time_budget_seconds"] = duration_seconds(search.pop("time_budget"))
        tuner = [tfx.components.Tuner(
            tuner_fn=config.tuner.tuner_fn,
            examples=transform.outputs["transformed_examples"],
            transform_graph=transform.outputs["transform_graph"],
            schema=schema_importer.outputs["schema"],
            custom_config={**model_config, "search": search},
        ).with_id(TUNER)]

    # The encoder pretrained on unlabelled text: the Trainer starts from it (trainer/pretrain.py).
    pretrainer = [EncoderPretrainer(transform.outputs["transform_graph"], config, model_config)
                  .with_id(ENCODER_PRETRAINER)] if config.pretraining.enabled else []

    trainer = tfx.components.Trainer(
        run_fn=config.trainer.run_fn,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_importer.outputs["schema"],
        # The best trial's values, over trainer.hyperparameters (trainer/run.py).
        hyperparameters=tuner[0].outputs["best_hyperparameters"] if tuner else None,
        base_model=pretrainer[0].outputs["model"] if pretrainer else None,
        custom_config=model_config,
    ).with_id(TRAINER)

    baseline_resolver = _baseline_resolver(trainer, tfx_strategy_only)

    evaluator = tfx.components.Evaluator(
        examples=examples,
        example_splits=[features.TEST_SPLIT],
        model=trainer.outputs["model"],
        baseline_model=baseline_resolver.outputs["model"],
        eval_config=eval_config(config),
    ).with_id(EVALUATOR)

    components: List = [example_gen, statistics_gen, schema_importer, example_validator, data_gate, *window,
                        transform, *tuner, *pretrainer, trainer, baseline_resolver, evaluator]
    # No threshold means no quality bar: such a run trains and evaluates, but nothing can be pushed.
    if config.evaluation.thresholds:
        provenance = RunProvenance(examples=examples, facts=run_facts(config.source_file, config.model_dump_json()),
                                   data_root=str(config.paths.data_root)).with_id(PROVENANCE)
        provenance.add_upstream_node(data_gate)  # facts of data that passed validation only
        components.append(provenance)
        pusher = AtomicPusher(
            model=trainer.outputs["model"],
            model_blessing=evaluator.outputs["blessing"],
            provenance=provenance.outputs["provenance"],
            evaluation=evaluator.outputs["evaluation"],
            push_destination=tfx.proto.PushDestination(
                filesystem=tfx.proto.PushDestination.Filesystem(base_directory=str(config.push_root))),
            custom_config={
                "model_name": config.serving.model_name,
                "signature": features.SERVING_DEFAULT,
                "input_key": features.TEXT,
                "warmup_texts_pattern": str(config.paths.data_root / "span-*" / features.EVAL_SPLIT / "*.csv"),
                "text_column": features.TEXT,
                "warmup_count": WARMUP_REQUESTS,
            },
        ).with_id(PUSHER)
        components.append(pusher)

    return tfx.dsl.Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=str(config.pipeline_root),
        components=components,
        enable_cache=True,
        # None with a remote pipeline root and no paths.metadata: Kubeflow brings its own, the others refuse.
        metadata_connection_config=connection_config(config),
        beam_pipeline_args=list(config.beam.args),
    )
