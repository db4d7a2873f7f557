"""`mlops doctor`: is this machine ready to run the pipeline? Each check says ok, warn or FAIL, and how to fix it."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Callable, List, Optional

import click

from tfx_pipeline.cli.common import config_option
from tfx_pipeline.config import ConfigError, load_config
from tfx_pipeline.provenance import LOCK_FILES, REPOSITORY, lock_hash

MIN_FREE_GB, LOW_FREE_GB = 2.0, 10.0
IMPORT_TIMEOUT_SECONDS = 180


@dataclass
class Check:
    name: str
    status: str  # ok | warn | FAIL
    detail: str
    fix: str = ""


def check_python() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info[:2] == (3, 11):
        return Check("python", "ok", f"Python {version} ({sys.executable})")
    return Check("python", "FAIL", f"Python {version}: the locked stack (TFX 1.16, TF 2.16) is built for 3.11",
                 "install Python 3.11, then `make install PYTHON=python3.11`")


def _pins(lock: Path) -> dict:
    pins = {}
    for line in lock.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line and not line.startswith("-"):
            name, version = line.split("==", 1)
            pins[name.split("[")[0].strip().lower().replace("_", "-")] = version.split(";")[0].strip()
    return pins


def check_venv(root: Path = REPOSITORY) -> Check:
    if sys.prefix == sys.base_prefix:
        return Check("venv", "FAIL", f"not running in a virtual environment ({sys.prefix})",
                     "`make install`, then run .venv/bin/mlops")
    if not all((root / name).is_file() for name in LOCK_FILES):
        return Check("venv", "warn", "no requirements.lock beside the package (installed from a wheel?): "
                                     "the venv cannot be compared with the lock")
    wanted = lock_hash(root)
    stamps = sorted(p.name for p in Path(sys.prefix).glob(".installed-*"))
    # A name may be installed more than once (setuptools carries its own copies of a few packages): the pin is
    # met when any copy has its version.
    installed: dict = {}
    for distribution in metadata.distributions():
        installed.setdefault(distribution.metadata["Name"].lower().replace("_", "-"), set()).add(distribution.version)
    pins = {**_pins(root / "requirements.lock"), **_pins(root / "requirements-nodeps.txt")}
    wrong = sorted(f"{name} {'/'.join(sorted(installed.get(name, {'missing'})))} (lock: {version})"
                   for name, version in pins.items() if version not in installed.get(name, set()))
    if wrong:
        return Check("venv", "FAIL", f"{len(wrong)} of {len(pins)} locked packages differ: " + ", ".join(wrong[:5])
                     + (" ..." if len(wrong) > 5 else ""), "`make install` (reinstalls from the lock)")
    if f".installed-{wanted}" not in stamps:
        return Check("venv", "warn", f"every locked package is installed, but the install stamp "
                                     f"({', '.join(stamps) or 'none'}) is not the lock's hash {wanted}",
                     "`make install` records the stamp")
    return Check("venv", "ok", f"{sys.prefix}: {len(pins)} packages as locked (hash {wanted})")


def check_imports() -> Check:
    code = ("import time; t = time.time(); import tensorflow as tf, tfx, tensorflow_model_analysis as tfma; "
            "import tf_keras; print(tf.__version__, tfx.__version__, tfma.__version__, "
            "round(time.time() - t, 1), tf.keras.__name__)")
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=IMPORT_TIMEOUT_SECONDS,
                              env={**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"})
    except subprocess.TimeoutExpired:
        return Check("imports", "FAIL", f"importing TensorFlow, TFX and TFMA took over {IMPORT_TIMEOUT_SECONDS} s",
                     "check the machine's load and disk; `make install` if files are missing")
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return Check("imports", "FAIL", f"import failed: {last}", "`make install` (reinstalls from the lock)")
    tf_version, tfx_version, tfma_version, seconds, keras = done.stdout.split()
    if not keras.startswith("tf_keras"):
        return Check("imports", "FAIL", f"tf.keras is {keras}, not Keras 2 (tf-keras)",
                     "export TF_USE_LEGACY_KERAS=1 (the Makefile and the packages set it)")
    return Check("imports", "ok", f"tensorflow {tf_version}, tfx {tfx_version}, tfma {tfma_version} "
                                  f"({seconds} s), tf.keras is Keras 2")


def _existing(path: Path) -> Path:
    path = Path(path).resolve()
    while not path.exists():
        path = path.parent
    return path


def check_disk(workdir) -> Check:
    if not isinstance(workdir, Path):
        return Check("disk", "ok", f"workspace {workdir} is remote: its space is the bucket's")
    free = shutil.disk_usage(_existing(workdir)).free / 2 ** 30
    if free < MIN_FREE_GB:
        return Check("disk", "FAIL", f"{free:.1f} GiB free for the workspace {workdir}",
                     f"free at least {MIN_FREE_GB:g} GiB, or `make clean` (removes work/)")
    if free < LOW_FREE_GB:
        return Check("disk", "warn", f"{free:.1f} GiB free for the workspace {workdir}: a full run on 1M rows "
                                     "needs more", "free some space")
    return Check("disk", "ok", f"{free:.0f} GiB free for the workspace {workdir}")


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def check_ports(ports=(8500, 8501)) -> Check:
    busy = [p for p in ports if not _port_free(p)]
    if not busy:
        return Check("ports", "ok", "serving ports " + " and ".join(map(str, ports)) + " are free")
    return Check("ports", "warn", f"port(s) {busy} are in use: by `mlops serve` already, or by another program",
                 "stop it, or serve elsewhere: mlops serve --port=9500 --rest_api_port=9501 "
                 "(and mlops predict --port 9500)")


def check_airflow(home: Path) -> Check:
    try:
        version = metadata.version("apache-airflow")
    except metadata.PackageNotFoundError:
        return Check("airflow", "FAIL", "apache-airflow is not installed", "`make install`")
    from runners.airflow import daemons

    if not home.exists():
        return Check("airflow", "ok", f"Airflow {version}; {home} does not exist yet (`mlops airflow up` makes it)")
    probe = home / f".doctor-{time.time_ns()}"
    try:
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        return Check("airflow", "FAIL", f"cannot write to {home}: {exc}", f"fix its permissions or remove {home}")
    cfg = home / "airflow.cfg"
    if cfg.is_file() and f"dags_folder = {daemons.DAGS_FOLDER}" not in cfg.read_text():
        return Check("airflow", "warn", f"{cfg} has another dags_folder than {daemons.DAGS_FOLDER}",
                     "`mlops airflow down && mlops airflow up` rewrites it")
    running = [d for d in daemons.DAEMONS if daemons.running_pid(home.resolve(), d)]
    return Check("airflow", "ok", f"Airflow {version}; {home}: " +
                 (", ".join(f"{d} running" for d in running) if running else "no daemon running"))


def check_config(config_path: Path) -> Check:
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        return Check("config", "FAIL", str(exc).replace("\n", " "), f"edit {config_path}")
    return Check("config", "ok", f"{config_path}: pipeline '{config.pipeline_name}', source {config.source_path()}")


def run_checks(config_path: Path, airflow_home: Path,
               progress: Optional[Callable[[Check], None]] = None) -> List[Check]:
    checks: List[Callable[[], Check]] = [check_python, check_venv, lambda: check_config(config_path)]
    try:
        workdir = load_config(config_path).paths.workdir
    except ConfigError:
        workdir = REPOSITORY / "work"
    checks += [check_imports, lambda: check_disk(workdir), check_ports, lambda: check_airflow(airflow_home)]
    results = []
    for check in checks:
        try:
            result = check()
        except Exception as exc:  # a check that breaks is a finding too
            result = Check(getattr(check, "__name__", "check"), "FAIL", f"{type(exc).__name__}: {exc}")
        results.append(result)
        if progress:
            progress(result)
    return results


@click.command("doctor")
@config_option
@click.option("--airflow-home", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="AIRFLOW_HOME to check [default: <repository>/work/airflow].")
def doctor(config_path: Path, airflow_home: Optional[Path]) -> None:
    """Check Python, the venv against the lock, the TF/TFX/TFMA imports, disk, serving ports and Airflow's home."""
    from runners.airflow import daemons

    def show(check: Check) -> None:
        colour = {"ok": "green", "warn": "yellow", "FAIL": "red"}[check.status]
        click.echo(f"{click.style(f'{check.status:<4}', fg=colour, bold=check.status == 'FAIL')}  "
                   f"{check.name:<8} {check.detail}")
        if check.fix and check.status != "ok":
            click.echo(f"{'':14}fix: {check.fix}")

    results = run_checks(config_path, airflow_home or daemons.DEFAULT_HOME, show)
    failed = [c.name for c in results if c.status == "FAIL"]
    click.echo(f"\n{len(results) - len(failed)} of {len(results)} checks passed" +
               (f"; failed: {', '.join(failed)}" if failed else ""))
    if failed:
        raise click.exceptions.Exit(1)
