"""Code tests for `mlops doctor`: each check passes on this machine, and each failure it can find names a fix."""
import shutil
import socket
from collections import namedtuple

from click.testing import CliRunner

from tfx_pipeline.cli import doctor, mlops


def test_doctor_passes_on_the_installed_venv(tmp_path):
    result = CliRunner().invoke(mlops, ["doctor", "--airflow-home", str(tmp_path / "airflow")])
    assert result.exit_code == 0, result.output
    for name in ("python", "venv", "config", "imports", "disk", "ports", "airflow"):
        assert any(line.split()[1:2] == [name] for line in result.output.splitlines()), (name, result.output)
    assert "tf.keras is Keras 2" in result.output
    assert "7 of 7 checks passed" in result.output


def test_a_venv_that_differs_from_the_lock_is_named_with_the_fix(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    for name in doctor.LOCK_FILES:
        shutil.copyfile(doctor.REPOSITORY / name, root / name)
    with open(root / "requirements.lock", "a") as lock:
        lock.write("surely-not-installed-package==9.9.9\nclick==0.0.1\n")
    check = doctor.check_venv(root)
    assert check.status == "FAIL" and check.fix == "`make install` (reinstalls from the lock)"
    assert "click 8" in check.detail and "(lock: 0.0.1)" in check.detail
    assert "surely-not-installed-package missing (lock: 9.9.9)" in check.detail


def test_a_busy_serving_port_is_named_with_the_fix():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        check = doctor.check_ports((port,))
    assert check.status == "warn" and str(port) in check.detail and "--port" in check.fix


def test_a_full_disk_is_a_failure_with_the_fix(tmp_path, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(doctor.shutil, "disk_usage", lambda path: usage(100 * 2 ** 30, 99.5 * 2 ** 30, 2 ** 29))
    check = doctor.check_disk(tmp_path / "not" / "yet" / "made")
    assert check.status == "FAIL" and "0.5 GiB free" in check.detail and "make clean" in check.fix


def test_a_broken_config_fails_its_check_and_the_command(tmp_path):
    broken = tmp_path / "config.yaml"
    broken.write_text("pipeline_name: x\nlabels: [a]\n")
    result = CliRunner().invoke(mlops, ["doctor", "--config", str(broken), "--airflow-home", str(tmp_path / "af")])
    assert result.exit_code == 1
    assert "FAIL  config" in result.output and f"fix: edit {broken}" in result.output
    assert "failed: config" in result.output


def test_an_unwritable_airflow_home_is_named(tmp_path, monkeypatch):
    home = tmp_path / "airflow"
    home.mkdir()
    monkeypatch.setattr(doctor.Path, "write_text", lambda self, text: (_ for _ in ()).throw(PermissionError(13, "no")))
    check = doctor.check_airflow(home)
    assert check.status == "FAIL" and str(home) in check.fix
