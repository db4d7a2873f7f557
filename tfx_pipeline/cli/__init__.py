"""`mlops`: one CLI whose subcommands map onto the stages. One module per command group:

run.py (run), report.py (report), data.py (ingest, schema), serving.py (serve, predict), monitor.py (monitor,
feedback), models.py (models), metadata.py (metadata), airflow.py (airflow), compile.py (compile), doctor.py
(doctor). Each imports TensorFlow and TFX only inside the command that needs them, so `mlops predict` and
`mlops --help` start in well under a second.
"""
from __future__ import annotations

import os
import sys

import click

from tfx_pipeline.cli import airflow, data, doctor, metadata, models, monitor, report, run, serving
from tfx_pipeline.cli import compile as compile_command

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def mlops() -> None:
    """Text classification on TFX: ingest, validate, transform, train, evaluate, push, serve."""


for command in (run.run, report.report, data.ingest, data.schema, serving.serve, serving.predict, monitor.monitor,
                monitor.feedback, models.models, metadata.metadata, airflow.airflow, compile_command.compile_pipeline,
                doctor.doctor):
    mlops.add_command(command)


def main(argv=None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if (argv[:1] == ["predict"] and "--in-process" not in argv) or argv[:2] in (
            ["models", "list"], ["models", "promote"], ["models", "rollback"], ["models", "history"]):
        from serving.protos import load_protocol_only

        # Asking a server needs TensorFlow's protos, not its runtime (10 s).
        load_protocol_only()
    mlops.main(argv, prog_name="mlops")


if __name__ == "__main__":
    sys.exit(main())
