"""TLS certificates on loopback, made here with trustme: expiry read from a real handshake,
warnings through the monitor, and an invalid certificate seen by real Chromium."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import trustme

from loginprobe.monitor.service import Monitor
from loginprobe.prober.tlscheck import cert_expiry, tls_context
from sandbox.https import serve_https, server_context, stop_https
from sandbox.pagerduty import PagerDutyReceiver
from tests.integration.conftest import drain, offline_monitor


class Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html><body>hello</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def https_server(ca: trustme.CA, not_after: datetime) -> Iterator[int]:
    server = serve_https(Hello, server_context(ca, not_after))
    yield server.server_address[1]
    stop_https(server)


@pytest.fixture
def expiring_soon(ca: trustme.CA) -> Iterator[int]:
    yield from https_server(ca, datetime.now(UTC) + timedelta(days=5, hours=1))


@pytest.fixture
def expiring_late(ca: trustme.CA) -> Iterator[int]:
    yield from https_server(ca, datetime.now(UTC) + timedelta(days=300))


@pytest.fixture
def trusted(ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "test-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    monkeypatch.setenv("SSL_CERT_FILE", str(path))
    return path


def test_cert_expiry_comes_from_a_verified_handshake(trusted: Path, expiring_soon: int) -> None:
    info = asyncio.run(cert_expiry("127.0.0.1", expiring_soon, tls_context()))
    assert info.error is None and info.not_after is not None
    assert timedelta(days=4) < info.not_after - datetime.now(UTC) < timedelta(days=6)


def test_an_untrusted_certificate_is_reported_not_read(
    expiring_soon: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    info = asyncio.run(cert_expiry("127.0.0.1", expiring_soon, tls_context()))
    assert info.not_after is None
    assert info.error is not None and info.error.startswith("invalid certificate")


def monitor_for(
    tmp_path: Path, receiver: PagerDutyReceiver, port: int, monkeypatch: pytest.MonkeyPatch
) -> Monitor:
    hub = f"""[hubs.h]
url = "https://127.0.0.1:{port}"
flow = "generic_oidc"
username_env = "T_USER"
password_env = "T_PASS"
"""
    return offline_monitor(tmp_path, receiver, monkeypatch, hub)


async def check_and_flush(m: Monitor) -> None:
    await m.check_tls("h")
    await drain(m)


def test_a_certificate_expiring_in_five_days_warns_once_as_tls_expiring(
    tmp_path: Path,
    receiver: PagerDutyReceiver,
    trusted: Path,
    expiring_soon: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    m = monitor_for(tmp_path, receiver, expiring_soon, monkeypatch)
    for _ in range(3):  # three checks, one page
        asyncio.run(check_and_flush(m))
    (event,) = receiver.accepted
    assert event["dedup_key"] == "loginprobe/h/tls"
    assert event["payload"]["class"] == "tls_expiring"
    assert event["payload"]["severity"] == "error"  # inside the last 7 days
    assert "the TLS certificate of 127.0.0.1 expires in 5 days" in event["payload"]["summary"]
    assert b'probe_ssl_earliest_cert_expiry{host="127.0.0.1",hub="h"}' in m.metrics.render()
    m.store.close()


def test_a_certificate_far_from_expiry_pages_nobody(
    tmp_path: Path,
    receiver: PagerDutyReceiver,
    trusted: Path,
    expiring_late: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    m = monitor_for(tmp_path, receiver, expiring_late, monkeypatch)
    asyncio.run(check_and_flush(m))
    assert receiver.accepted == []
    m.store.close()


@pytest.mark.sandbox
def test_an_invalid_certificate_makes_the_hub_unreachable_with_evidence_saying_so(
    tmp_path: Path, expiring_late: int
) -> None:
    # Chromium does not trust the test CA: to a browser this hub's certificate is invalid.
    config = tmp_path / "config.toml"
    config.write_text(f"""
[monitor]
timeout = "20s"
[hubs.h]
url = "https://127.0.0.1:{expiring_late}"
flow = "generic_oidc"
username_env = "T_USER"
password_env = "T_PASS"
""")
    env = {**os.environ, "T_USER": "u", "T_PASS": "pw-never-shown"}
    proc = subprocess.run(
        ["probe", "--config", str(config), "run", "h", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    verdict = json.loads(proc.stdout)["verdict"]
    assert proc.returncode == 1
    assert verdict["code"] == "hub_unreachable"
    assert "TLS certificate is not valid" in verdict["summary"]
    assert "ERR_CERT" in verdict["summary"]
