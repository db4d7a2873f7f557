"""Executions a dead run left RUNNING: closed as CANCELED before the next run, so ML Metadata never shows a
component as running that no process runs.

LocalDagRunner records an execution RUNNING when a component starts and COMPLETE or FAILED when it ends; a
SIGKILL, an OOM kill or a power cut in between leaves it RUNNING for ever, and nothing in TFX closes it. Only the
holder of the workspace's RunLock calls this, so no live LocalDagRunner run shares the store; Airflow's runs
(legacy launcher, `run` contexts) are left alone, since their tasks do not take that lock.
"""
from __future__ import annotations

import time
from typing import List

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2 as pb

from tfx_pipeline.metadata.runs import IR_RUN
from tfx_pipeline.metadata.store import open_store

CLOSED_BY = "closed_by"


def close_orphaned_executions(config) -> List[int]:
    """Marks the RUNNING executions of LocalDagRunner's runs of this pipeline CANCELED; returns their ids."""
    store = open_store(config, readonly=False)
    if store is None:
        return []
    running = store.get_executions(list_options=metadata_store.ListOptions(filter_query="last_known_state = RUNNING"))
    closed = []
    for execution in running:
        contexts = store.get_contexts_by_execution(execution.id)
        types = {t.id: t.name for t in store.get_context_types_by_id(list({c.type_id for c in contexts}))}
        if IR_RUN not in {types[c.type_id] for c in contexts}:
            continue
        execution.last_known_state = pb.Execution.CANCELED
        execution.custom_properties[CLOSED_BY].string_value = (
            f"mlops run at {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}: the run's process died "
            "while this execution ran")
        closed.append(execution)
    if closed:
        store.put_executions(closed)
    return [execution.id for execution in closed]
