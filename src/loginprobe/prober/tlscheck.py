"""TLS certificates: when does the certificate a host presents expire?

One verified handshake per host (no HTTP request). Trust is what the system trusts, plus
$SSL_CERT_FILE and an optional extra CA file; verification is never switched off, so an invalid
certificate is reported as such.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import certifi


def tls_context(ca_file: str | None = None) -> ssl.SSLContext:
    """Public CAs, plus $SSL_CERT_FILE and an extra CA (a TLS-inspecting proxy's, or a test CA)."""
    ctx = ssl.create_default_context(cafile=certifi.where())
    for extra in (os.environ.get("SSL_CERT_FILE"), ca_file):
        if extra:
            ctx.load_verify_locations(cafile=extra)
    return ctx


@dataclass(frozen=True)
class CertInfo:
    host: str
    port: int
    not_after: datetime | None = None
    error: str | None = None  # why there is no date: unreachable, invalid certificate, ...


def https_endpoint(url: str) -> tuple[str, int] | None:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        return None
    return parts.hostname, parts.port or 443


async def cert_expiry(
    host: str, port: int, ctx: ssl.SSLContext | None = None, timeout: float = 10.0
) -> CertInfo:
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=ctx or tls_context(), server_hostname=host),
            timeout,
        )
    except ssl.SSLCertVerificationError as err:
        return CertInfo(host, port, error=f"invalid certificate: {err.verify_message}")
    except (OSError, TimeoutError, ssl.SSLError) as err:
        return CertInfo(host, port, error=f"{type(err).__name__}: {err}"[:200])
    try:
        cert = writer.get_extra_info("peercert") or {}
        not_after = cert.get("notAfter")
        if not isinstance(not_after, str):
            return CertInfo(host, port, error="the certificate has no expiry date")
        return CertInfo(
            host, port, datetime.fromtimestamp(ssl.cert_time_to_seconds(not_after), UTC)
        )
    finally:
        writer.close()
