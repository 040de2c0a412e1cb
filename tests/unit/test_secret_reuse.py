"""A healthy browser probe sends the token endpoint nothing: the monitor's own secret check, taken
every `secret_check_interval`, stands for the probe's, and a probe takes a fresh one only when the
hub's callback failed (where the answer tells an expired secret from other causes). Fakes only at
the edges: the journey (a browser) and the POST to the token endpoint."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from loginprobe.model import Code, Failure, FailureKind, SecretCheck, Step
from loginprobe.monitor import checks as checks_module
from loginprobe.monitor.settings import Settings
from loginprobe.prober import hub_probe
from loginprobe.redact import Redactor
from tests.unit.fakes import ENV, FakePagerDuty, FakeProbes, monitor_on, until, write_settings

OAUTH = """
[hubs.a.oauth]
token_url = "https://idp.example.org/token"
client_id = "hub-a"
client_secret_env = "T_CS"
"""
VALID = SecretCheck("valid", 400, "invalid_grant", detail="the credentials are good")
EXPIRED = SecretCheck("expired", 401, "invalid_client", "client secret is expired")
CALLBACK_500 = Failure(FailureKind.HTTP, "oauth_callback", "answered 500", 500)


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in {**ENV, "T_CS": "cs-not-a-real-one"}.items():
        monkeypatch.setenv(k, v)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.load(write_settings(tmp_path, extra=OAUTH))


class Edges:
    """The journey's outcome and the token endpoint's answer, and every POST sent to it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, failure: Failure | None) -> None:
        self.posts = 0
        self.answer: SecretCheck | Exception = EXPIRED
        step = Step("hub_landing", "ok", 200, "https://a.example.org/hub/home", 900)
        steps = () if failure else (step,)

        async def journey(*_: Any) -> hub_probe._Walk:
            await asyncio.sleep(0)
            return hub_probe._Walk(steps, failure, None, None)

        async def post(*_: Any) -> SecretCheck:
            self.posts += 1
            if isinstance(self.answer, Exception):
                raise self.answer
            return self.answer

        monkeypatch.setattr(hub_probe, "_journey", journey)
        monkeypatch.setattr(hub_probe, "run_secret_check", post)


def probe(settings: Settings, recent: SecretCheck | None) -> Any:
    spec = settings.loaded.config.hubs["a"]
    return asyncio.run(
        hub_probe.probe_hub(
            None,  # type: ignore[arg-type]  # the journey is faked
            "a",
            spec,
            settings.secrets["a"],
            timeout=30,
            redactor=Redactor([]),
            recent_secret_check=recent,
        )
    )


def test_a_healthy_probe_with_a_recent_check_sends_the_token_endpoint_nothing(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    edges = Edges(monkeypatch, failure=None)
    result = probe(settings, VALID)
    assert edges.posts == 0
    assert result.verdict.code is Code.OK
    assert result.observation.secret_check == VALID


def test_a_recent_rejection_still_says_the_check_is_misconfigured_when_logins_work(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    edges = Edges(monkeypatch, failure=None)
    result = probe(settings, EXPIRED)
    assert edges.posts == 0
    assert result.verdict.code is Code.OK
    assert "secret check is misconfigured" in result.verdict.summary


def test_a_failed_callback_takes_a_fresh_check_whatever_the_recent_one_said(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    edges = Edges(monkeypatch, failure=CALLBACK_500)
    result = probe(settings, VALID)  # valid five minutes ago; expired since
    assert edges.posts == 1
    assert result.verdict.code is Code.CLIENT_SECRET_EXPIRED
    assert result.observation.secret_check == EXPIRED


def test_a_fresh_check_that_breaks_is_inconclusive_not_the_recent_answer(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    edges = Edges(monkeypatch, failure=CALLBACK_500)
    edges.answer = OSError("connection reset")
    result = probe(settings, VALID)
    assert edges.posts == 1
    sc = result.observation.secret_check
    assert sc is not None and sc.outcome == "inconclusive"
    assert result.verdict.code is not Code.CLIENT_SECRET_EXPIRED


def test_other_failures_keep_the_recent_check(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    idp_down = Failure(FailureKind.NETWORK, "idp_page", "net::ERR_CONNECTION_REFUSED", where="idp")
    edges = Edges(monkeypatch, failure=idp_down)
    result = probe(settings, VALID)
    assert edges.posts == 0
    assert result.observation.secret_check == VALID


def test_without_a_recent_check_every_probe_takes_its_own(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    edges = Edges(monkeypatch, failure=None)
    edges.answer = VALID
    result = probe(settings, None)
    assert edges.posts == 1
    assert result.observation.secret_check == VALID


# -- the monitor's side: which check stands for a probe's ----------------------------------------
def test_the_monitor_gives_its_probes_its_latest_check_while_it_is_current(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_settings(tmp_path, monitor='interval = "1h"', extra=OAUTH)

    async def post(*_: Any) -> SecretCheck:
        return VALID

    monkeypatch.setattr(checks_module, "run_secret_check", post)
    probes, pd = FakeProbes(), FakePagerDuty()
    m = monitor_on(config, probes, pd)
    now = [1000.0]
    m.checks.ticks = lambda: now[0]

    async def scenario() -> None:
        await m.start()
        try:
            await until(lambda: len(probes.ran) >= 1, what="the first probe")
            assert probes.secret_given == [None]  # no check yet: the probe takes its own
            await m.checks.check_secret("a")
            m._probe_now("a")
            await until(lambda: len(probes.ran) >= 2, what="the probe asked for")
            assert probes.secret_given[1] == VALID
            now[0] += 2 * 300 + 1  # two intervals of "5m" later, no check since
            assert m.checks.recent("a") is None
            now[0] -= 2
            assert m.checks.recent("a") == VALID
            m.settings = Settings.load(config)  # a reload: the client or secret may differ
            assert m.checks.recent("a") is None
        finally:
            await m.stop()
            m.store.close()

    asyncio.run(scenario())
