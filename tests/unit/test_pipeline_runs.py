"""Code tests for finding runs in ML Metadata as LocalDagRunner (IR contexts) and Airflow (legacy contexts)
record them, in one store: the latest run whichever runner made it, a run by id, its executions by component."""
from __future__ import annotations

import pytest
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2 as pb

from tfx_pipeline.metadata.runs import (IR_LAUNCHER, LEGACY_LAUNCHER, executions_by_component, find_run,
                                        pipeline_runs)

STRING = pb.STRING
LEGACY_KEYS = ("pipeline_name", "run_id")


class Store:
    """A store written the way each launcher writes its contexts, reduced to what the lookup reads."""

    def __init__(self, path):
        config = pb.ConnectionConfig()
        config.sqlite.filename_uri = str(path)
        config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
        self.store = metadata_store.MetadataStore(config)
        self.types = {name: self.store.put_context_type(pb.ContextType(name=name, properties=props))
                      for name, props in (("pipeline", {}), ("pipeline_run", {}), ("node", {}),
                                          ("run", dict.fromkeys(LEGACY_KEYS, STRING)))}
        self.execution_type = self.store.put_execution_type(
            pb.ExecutionType(name="Component", properties=dict.fromkeys(("component_id", "run_id"), STRING)))
        self.contexts = {}

    def _context(self, type_name, name, **properties):
        """The context of that type and name, created the first time (as each launcher reuses it)."""
        if (type_name, name) not in self.contexts:
            context = pb.Context(type_id=self.types[type_name], name=name)
            for key, value in properties.items():
                context.properties[key].string_value = value
            [context.id] = self.store.put_contexts([context])
            self.contexts[type_name, name] = context
        return self.contexts[type_name, name]

    def _execution(self, contexts, **properties):
        execution = pb.Execution(type_id=self.execution_type, last_known_state=pb.Execution.COMPLETE)
        for key, value in properties.items():
            execution.properties[key].string_value = value
        execution_id, _, _ = self.store.put_execution(execution, [], contexts)
        return execution_id

    def ir_run(self, pipeline, run_id, components):
        run = self._context("pipeline_run", run_id)
        self.store.put_parent_contexts([pb.ParentContext(child_id=run.id,
                                                         parent_id=self._context("pipeline", pipeline).id)])
        return {c: self._execution([run, self._context("node", f"{pipeline}.{c}")]) for c in components}

    def legacy_run(self, pipeline, run_id, components):
        run = self._context("run", f"{pipeline}.{run_id}", pipeline_name=pipeline, run_id=run_id)
        return {c: self._execution([run], component_id=c, run_id=run_id) for c in components}


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "metadata.sqlite")


def test_the_latest_run_is_the_newest_of_either_launcher(store):
    store.ir_run("sentiment", "2026-01-01T10:00:00", ["csv_example_gen"])
    assert find_run(store.store, "sentiment").launcher == IR_LAUNCHER
    store.legacy_run("sentiment", "manual__2026-01-02", ["csv_example_gen"])
    assert (find_run(store.store, "sentiment").run_id, find_run(store.store, "sentiment").launcher) == \
        ("manual__2026-01-02", LEGACY_LAUNCHER)
    store.ir_run("sentiment", "2026-01-03T10:00:00", ["csv_example_gen"])
    assert find_run(store.store, "sentiment").run_id == "2026-01-03T10:00:00"
    assert [r.run_id for r in pipeline_runs(store.store, "sentiment")] == \
        ["2026-01-01T10:00:00", "manual__2026-01-02", "2026-01-03T10:00:00"]


def test_a_run_is_found_by_the_id_its_runner_shows_and_only_in_its_pipeline(store):
    store.legacy_run("sentiment", "manual__a", ["trainer"])
    store.legacy_run("emotion", "manual__b", ["trainer"])
    store.ir_run("emotion", "2026-01-01T10:00:00", ["trainer"])
    assert find_run(store.store, "sentiment", "manual__a").launcher == LEGACY_LAUNCHER
    assert find_run(store.store, "sentiment", "manual__b") is None
    assert find_run(store.store, "sentiment", "2026-01-01T10:00:00") is None
    assert find_run(store.store, "emotion", "2026-01-01T10:00:00").launcher == IR_LAUNCHER
    assert find_run(store.store, "other") is None


@pytest.mark.parametrize("launcher", ["ir_run", "legacy_run"])
def test_executions_are_keyed_by_component_id_within_the_run(store, launcher):
    record = getattr(store, launcher)
    record("sentiment", "run-1", ["csv_example_gen", "trainer"])
    second = record("sentiment", "run-2", ["csv_example_gen", "transform"])
    run = find_run(store.store, "sentiment", "run-2")
    assert {c: e.id for c, e in executions_by_component(store.store, run, "sentiment").items()} == second
