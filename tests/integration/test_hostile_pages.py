"""The hostile-page corpus (sandbox/hostile.py) against the real monitor and CLI: one `probe serve`
probes each hostile page (at the hub, the IdP's error page, the IdP's login page) while one
`probe run` per page runs beside it; then every output — stdout, stderr, `--json`, the JSON logs,
the store, the PagerDuty events, every file written, every member of every trace zip — is searched
for every planted value and every secret, in every encoding (tests/leaks.py)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sandbox import Sandbox, free_port
from tests.integration.conftest import Prober, Run
from tests.leaks import assert_no_leaks
from tests.procs import descendants

pytestmark = pytest.mark.sandbox

# The page, the verdict it must give, how `probe run` is asked about it, and words of the page
# the summary must still quote (so that what is missing was scrubbed, not skipped).
PAGES = {
    "hub": ("hub_error", ("--json",), "Hostile hub"),
    "idp_error": ("idp_error", (), "Hostile IdP"),
    "idp_login": ("login_rejected", ("--json",), "Invalid password"),
}
ACTING_ON_A_TERMINAL = ("\x1b", "\x07", "\x9b", "\u202e")


@dataclass
class CorpusRun:
    outputs: dict[str, bytes | str] = field(default_factory=dict)
    stored: dict[str, str] = field(default_factory=dict)  # page -> the stored result (JSON)
    human: dict[str, str] = field(default_factory=dict)  # what a person's terminal got
    environs: dict[str, bytes] = field(default_factory=dict)  # process -> /proc/<pid>/environ
    runs: dict[str, Run] = field(default_factory=dict)


def _latest(db: Path, code: str, since: float) -> str | None:
    """The stored result of the latest probe with this verdict since then (a failure's full
    result is kept in `results`)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        row = conn.execute(
            "select r.result from probes p join results r on r.probe_id = p.id"
            " where p.code = ? and p.started_at >= ? order by p.id desc",
            (code, since),
        ).fetchone()
    return None if row is None else str(row[0])


def _files(*dirs: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for d in dirs for p in d.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def corpus(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CorpusRun]:
    base = tmp_path_factory.mktemp("hostile")
    prober = Prober(sandbox, base)
    work = base / "serve"
    work.mkdir()
    tmpdir = Path(tempfile.mkdtemp(prefix="lp-", dir="/tmp"))
    db = work / "state.sqlite"
    config = prober.config(
        monitor=f"""interval = "2s"
retry_after_failure = "1s"
failures_to_alert = 1
listen = "127.0.0.1:{free_port()}"
state = "sqlite:///{db}"
artifacts_dir = "{work}/artifacts"
"""
    )
    env = {
        **os.environ,
        **sandbox.probe_env(),
        "HOME": str(work),
        "TMPDIR": str(tmpdir),
        "LOGINPROBE_LOG_LEVEL": "debug",
    }
    serve = subprocess.Popen(
        ["probe", "--config", str(config), "serve"],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    found = CorpusRun()
    try:
        for page, (code, flags, _) in PAGES.items():
            since = time.time() - 1
            sandbox.set_fault("hostile", page)
            found.runs[page] = prober.run("run", "sandbox", *flags, config=config)
            deadline = time.monotonic() + 180
            while (stored := _latest(db, code, since)) is None:
                assert serve.poll() is None, serve.communicate()[1].decode()[-3000:]
                assert time.monotonic() < deadline, f"probe serve gave no {code} for {page}"
                time.sleep(0.3)
            found.stored[page] = stored
        codes = {c for c, _, _ in PAGES.values()}
        sandbox.pagerduty.wait_for(
            lambda events: codes <= {(e.get("payload") or {}).get("class") for e in events},
            timeout=60,
        )
        for pid in descendants(serve.pid):
            with contextlib.suppress(OSError):  # gone meanwhile
                found.environs[f"{pid} {Path(f'/proc/{pid}/comm').read_text().strip()}"] = Path(
                    f"/proc/{pid}/environ"
                ).read_bytes()
    finally:
        sandbox.clear_faults()
        os.killpg(serve.pid, signal.SIGTERM)
        out, err = serve.communicate(timeout=60)
    found.outputs.update({"serve stdout": out, "serve stderr": err})
    found.outputs.update(_files(work, tmpdir))
    # Without the routing key, which PagerDuty's API has every event carry.
    found.outputs["PagerDuty events"] = json.dumps(
        [{k: v for k, v in e.items() if k != "routing_key"} for e in sandbox.pagerduty.accepted]
    )
    for page, run in found.runs.items():
        found.outputs[f"run {page} stdout"] = run.stdout
        found.outputs[f"run {page} stderr"] = run.stderr
        found.outputs.update({f"run {page} {p}": data for p, data in run.written_files().items()})
        if not PAGES[page][1]:
            found.human[f"probe run ({page})"] = run.stdout + run.stderr
    views = {"COLUMNS": "300"}
    for args in (("history", "sandbox", "-n", "50"), ("list",)):
        view = prober.run(*args, config=config, env=views)
        found.outputs[f"{' '.join(args)} stdout"] = view.stdout
        found.human[" ".join(args)] = view.stdout + view.stderr
        as_json = prober.run(*args, "--json", config=config, env=views)
        found.outputs[f"{' '.join(args)} --json"] = as_json.stdout
    yield found
    shutil.rmtree(tmpdir, ignore_errors=True)
    for d in prober.tmpdirs:
        shutil.rmtree(d, ignore_errors=True)


def test_each_hostile_page_gives_its_verdict_and_the_verdict_still_quotes_it(
    corpus: CorpusRun,
) -> None:
    for page, (code, flags, words) in PAGES.items():
        # The page's harmless words are quoted (its failing step's detail): what is missing
        # was scrubbed, not skipped.
        assert words in json.loads(corpus.stored[page])["verdict"]["evidence"]["detail"]
        run = corpus.runs[page]
        if flags:
            assert run.json["verdict"]["code"] == code, run.stdout
            assert words in run.json["verdict"]["evidence"]["detail"]
        else:
            assert f"{code}: " in run.stdout, run.stdout
        assert run.code == 1, run.stderr


def test_nothing_planted_on_a_page_and_no_secret_reaches_any_output(
    corpus: CorpusRun, sandbox: Sandbox
) -> None:
    searched: dict[str, Any] = {
        **sandbox.hostile.planted,
        "test password": sandbox.password,
        "client secret": sandbox.client_secret,
        "routing key": sandbox.routing_key,
    }
    evidence = [k for k in corpus.outputs if k.endswith(("page.html", "trace.zip"))]
    assert len(evidence) >= 2 * len(PAGES), sorted(corpus.outputs)
    assert_no_leaks(corpus.outputs, searched)


def test_nothing_a_page_sent_acts_on_the_terminal(corpus: CorpusRun) -> None:
    assert set(corpus.human) == {"probe run (idp_error)", "history sandbox -n 50", "list"}
    for what, text in corpus.human.items():
        for control in ACTING_ON_A_TERMINAL:
            assert control not in text, (what, repr(control))
    # The pages' words are there, as harmless text.
    assert "Invalid password" in corpus.human["history sandbox -n 50"]
    assert "Hostile IdP" in corpus.human["probe run (idp_error)"]


def test_serve_and_the_browser_it_starts_hold_no_secret_in_their_environment(
    corpus: CorpusRun, sandbox: Sandbox
) -> None:
    assert any("chrom" in name.lower() for name in corpus.environs), sorted(corpus.environs)
    assert_no_leaks(
        {f"/proc/{name}/environ": env for name, env in corpus.environs.items()},
        {
            "test password": sandbox.password,
            "client secret": sandbox.client_secret,
            "routing key": sandbox.routing_key,
        },
    )
