"""DataGate: stops the run when ExampleValidator found anomalies in any split.

ExampleValidator only records anomalies; nothing in TFX stops on them. Transform is made to depend on this
gate, so bad data ends the run before any model is trained or pushed. The anomalies are read through TFX's
fileio, so the gate works on a gs:// (s3://, hdfs://) pipeline root as on a local one.
"""

import os
from typing import List

from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx import v1 as tfx
from tfx.dsl.io import fileio
from tfx.types import standard_artifact_utils

SCHEMA_DIFF_FILE = "SchemaDiff.pb"


class DataValidationError(RuntimeError):
    """The examples do not match the curated schema."""


def describe_anomalies(artifact: tfx.types.standard_artifacts.ExampleAnomalies) -> List[str]:
    problems = []
    for split in standard_artifact_utils.decode_split_names(artifact.split_names):
        path = os.path.join(standard_artifact_utils.get_split_uri([artifact], split), SCHEMA_DIFF_FILE)
        anomalies = anomalies_pb2.Anomalies()
        with fileio.open(path, "rb") as f:
            anomalies.ParseFromString(f.read())
        for feature, info in sorted(anomalies.anomaly_info.items()):
            problems.append(f"split '{split}', feature '{feature}': {info.short_description}: {info.description}")
        if anomalies.HasField("dataset_anomaly_info"):
            info = anomalies.dataset_anomaly_info
            problems.append(f"split '{split}', dataset: {info.short_description}: {info.description}")
    return problems


@tfx.dsl.components.component
def DataGate(anomalies: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.ExampleAnomalies]) -> None:
    problems = describe_anomalies(anomalies)
    if problems:
        raise DataValidationError(
            "ExampleValidator found anomalies; the run stops before Transform:\n  - " + "\n  - ".join(problems))
