"""TLS certificates: when does the certificate a host presents expire?

One verified handshake per host (no HTTP request). Trust is what the system trusts, plus
$SSL_CERT_FILE, $SSL_CERT_DIR and an optional extra CA file; verification is never switched off,
so an invalid certificate is reported as such. The secret check and the heartbeat trust the same.
"""

from __future__ import annotations

import asyncio
import functools
import os
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import certifi


def tls_context(ca_file: str | None = None) -> ssl.SSLContext:
    """Public CAs, plus $SSL_CERT_FILE, $SSL_CERT_DIR and an extra CA (a TLS-inspecting proxy's,
    or a test CA). Built once per set of files and shared (never change it): reading the CA
    bundle costs ~80 ms of CPU, which a client built for every secret check paid each time."""
    env_file, env_dir = os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")
    # A file changed in place (a rotated proxy CA, then a reload) builds a new context; a
    # directory's certificates are looked up as they are needed anyway.
    return _context(ca_file, _stamp(ca_file), env_file, _stamp(env_file), env_dir)


def _stamp(path: str | None) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path) if path else None
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns) if st else None


@functools.lru_cache(maxsize=8)
def _context(
    ca_file: str | None,
    _ca_stamp: object,
    env_file: str | None,
    _env_stamp: object,
    env_dir: str | None,
) -> ssl.SSLContext:
    # Shared by every client: never changed after this. (httpx sets ALPN on it at each
    # connection, the same "http/1.1" for every client here, none of which speaks HTTP/2.)
    ctx = ssl.create_default_context(cafile=certifi.where())
    for extra in (env_file, ca_file):
        if extra:
            ctx.load_verify_locations(cafile=extra)
    if env_dir:
        ctx.load_verify_locations(capath=env_dir)
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
