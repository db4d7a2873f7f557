"""Transform executor for a window of spans that publishes one transformed_examples artifact per input Examples
under TFX's legacy launcher (AirflowDagRunner) as under the IR one (LocalDagRunner).

Given several Examples, TFX's Transform executor replaces its one transformed_examples artifact by a new copy
per input (artifact_utils.replicate_artifacts, URIs <uri>/0, <uri>/1, ...). The IR launcher publishes the list
the executor leaves. The legacy launcher has registered the one artifact in ML Metadata before the executor
runs and publishes the copies beside it, so the Trainer was given it too: no data and no split names, hence
"Split does not exist over all example artifacts: train". Here the registered artifact becomes the first copy.
TFX's own remedy, Channel.matching_channel_name (the driver registers one artifact per input), is lost when the
spec's channel becomes the component's OutputChannel, and the legacy driver would give those artifacts one and
the same name, which ML Metadata refuses.
"""
from __future__ import annotations

from typing import Any, Dict, List

from tfx import types
from tfx.components.transform import executor as tfx_transform
from tfx.types import artifact_utils, standard_component_specs

_EXAMPLES = standard_component_specs.EXAMPLES_KEY
_TRANSFORMED = standard_component_specs.TRANSFORMED_EXAMPLES_KEY


def one_per_input(given: types.Artifact, count: int) -> List[types.Artifact]:
    """TFX's copies of `given`, the first being `given` itself (its ML Metadata id kept) at the first copy's URI."""
    copies = artifact_utils.replicate_artifacts(given, count)
    given.uri = copies[0].uri
    return [given, *copies[1:]]


class Executor(tfx_transform.Executor):

    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        count = len(input_dict[_EXAMPLES])
        given = output_dict.get(_TRANSFORMED)
        if count > 1 and given and len(given) == 1:
            # In place: the launcher publishes the list it handed over.
            output_dict[_TRANSFORMED] = one_per_input(given[0], count)
        super().Do(input_dict, output_dict, exec_properties)
