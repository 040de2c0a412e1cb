"""A healthy browser probe sends the token endpoint nothing: the monitor's own secret check, taken
every `secret_check_interval`, stands for the probe's, and a probe takes a fresh one only when
its login failed (the answer tells an expired secret from other causes; a page's evidence is this
minute's), beside its evidence. Fakes only at the edges: the journey (a browser) and the POST to
the token endpoint."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
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

        async def journey(*_: Any, **options: Any) -> hub_probe._Walk:
            await asyncio.sleep(0)
            on_failure = options.get("on_failure")
            if failure is not None and on_failure is not None:
                on_failure()  # as the journey says so, before taking its evidence
            await asyncio.sleep(0.05)  # the evidence
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


def test_any_failed_login_takes_a_fresh_check_for_its_evidence(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    idp_down = Failure(FailureKind.NETWORK, "idp_page", "net::ERR_CONNECTION_REFUSED", where="idp")
    edges = Edges(monkeypatch, failure=idp_down)
    edges.answer = SecretCheck("inconclusive", detail="connection refused")
    result = probe(settings, VALID)
    assert edges.posts == 1
    assert result.observation.secret_check == edges.answer


def test_the_fresh_check_is_bounded(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the probe's time the pool cuts it as hung, and the browser with it."""
    edges = Edges(monkeypatch, failure=CALLBACK_500)

    async def silent(*_: Any) -> SecretCheck:
        edges.posts += 1
        await asyncio.Event().wait()  # a token endpoint that never answers
        raise AssertionError("unreachable")

    monkeypatch.setattr(hub_probe, "run_secret_check", silent)
    monkeypatch.setattr(hub_probe, "SECRET_CHECK_AFTER_S", 0.2)
    spec = settings.loaded.config.hubs["a"]
    began = time.monotonic()
    probing = hub_probe.probe_hub(
        None,  # type: ignore[arg-type]  # the journey is faked
        "a",
        spec,
        settings.secrets["a"],
        timeout=30,
        redactor=Redactor([]),
        recent_secret_check=VALID,
    )
    result = asyncio.run(asyncio.wait_for(probing, 20))  # unbounded, it would wait for good
    assert time.monotonic() - began < 5  # not the check's own 15 s, nor the probe's 30
    assert edges.posts == 1
    sc = result.observation.secret_check
    assert sc is not None and sc.outcome == "inconclusive", sc
    assert "did not answer within" in sc.detail
    assert result.verdict.code is not Code.CLIENT_SECRET_EXPIRED


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

    async def no_scheduled_checks(hub: str) -> None:
        return None  # the test takes the check itself, when it wants one

    m.checks.run = no_scheduled_checks  # type: ignore[method-assign]

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


def test_a_check_taken_before_the_secrets_end_date_does_not_stand_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A "still accepted" from 23:55 read at 00:02 on the end date would say the date in the
    config is wrong: past the end, only a check taken since stands."""
    config = write_settings(tmp_path, extra=OAUTH + 'secret_expires = "2027-09-01"\n')

    async def post(*_: Any) -> SecretCheck:
        return VALID

    monkeypatch.setattr(checks_module, "run_secret_check", post)
    m = monitor_on(config, FakeProbes(), FakePagerDuty())
    end = datetime(2027, 9, 1, tzinfo=UTC).timestamp()
    calendar = [end - 300]  # five minutes before the end
    m.checks.clock = lambda: calendar[0]
    try:
        asyncio.run(m.checks.check_secret("a"))
        assert m.checks.recent("a") == VALID
        calendar[0] = end + 120
        assert m.checks.recent("a") is None
        asyncio.run(m.checks.check_secret("a"))  # taken after the end: it stands
        assert m.checks.recent("a") == VALID
    finally:
        m.store.close()
