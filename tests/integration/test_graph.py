"""Microsoft Graph expiry lookup against the local stand-in (HTTPS, trustme CA), which answers as
Microsoft's documentation shows: healthy, expiring soon, 403, 401, malformed, wrong secret."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from loginprobe.model import Code, Observation, ProbeResult, SecretCheck, Severity, Verdict
from loginprobe.monitor.service import Monitor
from loginprobe.prober.graph import GraphExpiry, graph_secret_expiry
from loginprobe.prober.tlscheck import tls_context
from sandbox.graph import GraphStandIn
from sandbox.pagerduty import PagerDutyReceiver
from tests.integration.conftest import drain, offline_monitor

TENANT, CLIENT_ID, SECRET = (
    "contoso.onmicrosoft.com",
    "11111111-2222-3333-4444-555555555555",
    ("Q~x8abcdefghijklmnopqrstuvwxyz0123456789"),
)


@pytest.fixture
def graph(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GraphStandIn]:
    g = GraphStandIn(tmp_path, TENANT, CLIENT_ID, SECRET)
    g.start()
    monkeypatch.setenv("SSL_CERT_FILE", str(g.ca_file))
    yield g
    g.stop()


def lookup(g: GraphStandIn, secret: str = SECRET) -> GraphExpiry:
    async def go() -> GraphExpiry:
        async with httpx.AsyncClient(verify=tls_context()) as client:
            return await graph_secret_expiry(
                client,
                authority=g.url,
                graph_url=g.url,
                tenant=TENANT,
                client_id=CLIENT_ID,
                client_secret=secret,
            )

    return asyncio.run(go())


def test_healthy_app_gives_the_end_date_of_the_credential_the_hub_uses(graph: GraphStandIn) -> None:
    found = lookup(graph)
    assert found.error is None and found.end is not None
    # Not the other credential (hint zz9, 3 days): the one whose hint matches the secret.
    assert abs((found.end - graph.end).total_seconds()) < 2


def test_expiring_soon_is_read_as_such(graph: GraphStandIn) -> None:
    graph.end = datetime.now(UTC) + timedelta(days=10)
    found = lookup(graph)
    assert found.end is not None and timedelta(days=9) < found.end - datetime.now(UTC)


@pytest.mark.parametrize("mode", ["deny", "unauthorized"])
def test_no_permission_says_so_and_is_not_a_broken_secret(graph: GraphStandIn, mode: str) -> None:
    graph.mode = mode  # type: ignore[assignment]
    found = lookup(graph)
    assert found.denied and found.end is None
    assert found.error is not None and "Application.Read.All" in found.error


def test_malformed_answer_is_a_clear_error_not_a_crash(graph: GraphStandIn) -> None:
    graph.mode = "malformed"
    found = lookup(graph)
    assert found.end is None and not found.denied
    assert found.error == "malformed Graph answer: no passwordCredentials list"


def test_wrong_secret_gets_no_token_and_never_shows_the_secret(graph: GraphStandIn) -> None:
    found = lookup(graph, secret="wrong-secret-value-123")
    assert found.error is not None and found.error.startswith("no Graph token (invalid_client")
    assert "wrong-secret-value-123" not in found.error


def monitor_for(
    tmp_path: Path,
    graph: GraphStandIn,
    receiver: PagerDutyReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> Monitor:
    hub = f"""[hubs.h]
url = "http://127.0.0.1:9"
flow = "generic_oidc"
username_env = "T_USER"
password_env = "T_PASS"
[hubs.h.oauth]
token_url = "{graph.url}/{TENANT}/oauth2/v2.0/token"
client_id = "{CLIENT_ID}"
client_secret_env = "T_SECRET"
secret_expires = 2030-01-01
graph = true
tenant = "{TENANT}"
graph_url = "{graph.url}"
authority_url = "{graph.url}"
"""
    return offline_monitor(tmp_path, receiver, monkeypatch, hub, env={"T_SECRET": SECRET})


def ok_result() -> ProbeResult:
    obs = Observation("h", (), None, SecretCheck("valid", 400, "invalid_grant"), "http://x")
    return ProbeResult("h", Verdict(Code.OK, Severity.INFO, "h: ok"), obs, "2026-01-01", 1)


def run(m: Monitor) -> None:
    async def go() -> None:
        await m.checks.check_graph("h")
        m.handle(ok_result())
        await drain(m)

    asyncio.run(go())


def test_graph_date_drives_the_warning_and_403_falls_back_to_the_declared_date(
    tmp_path: Path,
    graph: GraphStandIn,
    receiver: PagerDutyReceiver,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    graph.end = datetime.now(UTC) + timedelta(days=10, hours=2)
    m = monitor_for(tmp_path, graph, receiver, monkeypatch)
    run(m)
    (event,) = receiver.accepted
    assert event["payload"]["class"] == "secret_expiring"
    assert f"(on {graph.end.date()})" in event["payload"]["summary"]  # Graph's date, not 2030

    # Permission withdrawn: say so once, fall back to the declared 2030 date (out of the window).
    graph.mode = "deny"
    run(m)
    run(m)
    assert [e["event_action"] for e in receiver.accepted] == ["trigger", "resolve"]
    assert capsys.readouterr().out.count("Graph gave no secret expiry") == 1
    m.store.close()
