"""Operating the served model, part 3: the run's HTML report, as a person opens it.

`mlops run` wrote one for the first run of the session's workspace; headless Chromium (Debian's) opens it with
every host unresolvable and a dead proxy, dumps the DOM and takes a screenshot, and its network log shows that
the page asked for nothing but itself.
"""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from pipeline_helpers import run_cli
from tfx_pipeline.reports.html import SECTIONS, report_folder

pytestmark = pytest.mark.e2e

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-default-apps", "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9"]


def _chromium(tmp_path, *args):
    binary = shutil.which("chromium")
    assert binary, "Debian's chromium is needed (make test installs it: `make browser`)"
    return subprocess.run([binary, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def page(served, tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    reports = sorted(report_folder(served["config"]).glob("run-*.html"))
    assert reports, f"mlops run wrote no report under {report_folder(served['config'])}"
    netlog = folder / "netlog.json"
    dom = _chromium(folder, f"--log-net-log={netlog}", "--net-log-capture-mode=Everything", "--dump-dom",
                    reports[0].as_uri())
    shot = _chromium(folder, "--window-size=1280,4000", f"--screenshot={folder / 'report.png'}", reports[0].as_uri())
    return {"path": reports[0], "dom": dom, "shot": shot, "netlog": netlog, "screenshot": folder / "report.png"}


def test_the_report_renders_with_every_section_in_the_dom(page):
    assert page["dom"].returncode == 0, page["dom"].stderr[-2000:]
    dom = page["dom"].stdout
    for section in SECTIONS:
        assert f'<section id="{section}">' in dom, section
    for shown in ("BLESSED", "confusion matrix", "accuracy by label", "train: labels", "TFDV", "Trainer",
                  "intended use", "limitations", "ethical considerations", "run_provenance", "sha256"):
        assert shown in dom, shown
    assert dom.count("<svg") >= 8  # label and length charts per split, slices, confusion matrix, curves


def test_a_screenshot_is_written(page):
    assert page["shot"].returncode == 0, page["shot"].stderr[-2000:]
    assert page["screenshot"].stat().st_size > 50_000  # a rendered page, not a blank one
    assert page["screenshot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _page_requests(netlog):
    """URLs the page asked for. Chromium's own background fetches (time, update, accounts) carry the
    initiator 'not an origin'; anything a file:// page loads carries its opaque origin, 'null'."""
    log = json.loads(netlog.read_text())
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    jobs = [e["params"] for e in log["events"] if e["type"] == start_job and "url" in e.get("params", {})]
    assert jobs, "the network log recorded no request at all: it was not written"
    return {job["url"] for job in jobs if job.get("initiator") != "not an origin"}


def test_the_network_check_sees_a_page_that_loads_from_elsewhere(tmp_path):
    control = tmp_path / "control.html"
    control.write_text('<link rel="stylesheet" href="https://cdn.example.com/a.css">'
                       '<img src="http://example.org/b.png">')
    netlog = tmp_path / "netlog.json"
    _chromium(tmp_path, f"--log-net-log={netlog}", "--net-log-capture-mode=Everything", "--dump-dom", control.as_uri())
    assert _page_requests(netlog) == {"https://cdn.example.com/a.css", "http://example.org/b.png"}


def test_the_page_makes_no_external_request(page):
    assert _page_requests(page["netlog"]) <= {page["path"].as_uri()}
    html = page["path"].read_text()
    assert "http://" not in html and "https://" not in html and "<script" not in html


def test_mlops_report_html_writes_the_report_of_a_run(served):
    result = run_cli("report", "--config", str(served["config_path"]), "--sample", str(served["sample"]), "--html")
    assert result.exit_code == 0, result.output
    written = result.output.strip().splitlines()[-1]
    assert written.startswith("html report: ") and written.endswith(".html")
