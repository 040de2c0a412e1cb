"""Benchmark: building and rendering the status page from a real SQLite store.

A store with HUBS hubs and PROBES probes each (the sandbox's seven steps per probe, every fifth
probe failing), a Monitor that is never started, then `/` and `/api/status` built N times:
prints the median and max time and the page's size.

    .venv/bin/python benchmarks/status_page.py [--hubs 20] [--probes 500] [--runs 50]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from loginprobe.monitor.metrics import Metrics
from loginprobe.monitor.service import Monitor
from loginprobe.monitor.settings import Settings
from loginprobe.store import Store
from loginprobe.web.app import status_document
from loginprobe.web.page import render

STEPS = [
    ("hub_start", 244),
    ("hub_login", 282),
    ("idp_page", 5),
    ("idp_login", 440),
    ("idp_consent", 193),
    ("oauth_callback", 88),
    ("hub_landing", 199),
]


def result(hub: str, i: int, started: datetime) -> dict[str, object]:
    failing = i % 5 == 4
    code = "client_secret_expired" if failing else "ok"
    return {
        "hub": hub,
        "ok": not failing,
        "verdict": {
            "code": code,
            "severity": "critical" if failing else "info",
            "summary": f"{hub}: {code}",
            "step": "oauth_callback" if failing else None,
            "evidence": {},
        },
        "steps": [
            {
                "name": n,
                "status": "ok",
                "http_status": 200,
                "url": "",
                "ms": ms + i % 7,
                "detail": "",
            }
            for n, ms in STEPS
        ],
        "secret_check": None,
        "started_at": started.isoformat(timespec="seconds"),
        "duration_ms": 1500 + i % 100,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hubs", type=int, default=20)
    ap.add_argument("--probes", type=int, default=500)
    ap.add_argument("--runs", type=int, default=50)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="lp-bench-"))
    os.environ.update(U="u", P="p")
    hubs = "".join(
        f'[hubs.hub{n}]\nurl = "https://hub{n}.example.org"\nflow = "generic_oidc"\n'
        'username_env = "U"\npassword_env = "P"\n'
        for n in range(args.hubs)
    )
    config = tmp / "config.toml"
    config.write_text(f'[monitor]\nstate = "sqlite:///{tmp}/state.sqlite"\n{hubs}')
    settings = Settings.load(config)
    store = Store(settings.loaded.config.monitor.state)
    t0 = datetime.now(UTC) - timedelta(days=2)
    for i in range(args.probes):
        for n in range(args.hubs):
            r = result(f"hub{n}", i, t0 + timedelta(seconds=60 * i))
            store.record(r, {}, [], 0.0, str(r["started_at"]))
    monitor = Monitor(settings, store, Metrics())
    page_ms, api_ms = [], []
    html, body = "", ""
    for _ in range(args.runs):
        t = time.perf_counter()
        html = render(status_document(monitor))
        page_ms.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        body = json.dumps(status_document(monitor))
        api_ms.append((time.perf_counter() - t) * 1000)
    print(
        f"{args.hubs} hubs x {args.probes} stored probes: "
        f"/ median {statistics.median(page_ms):.1f} ms, max {max(page_ms):.1f} ms, "
        f"{len(html.encode()) / 1024:.0f} KiB; "
        f"/api/status median {statistics.median(api_ms):.1f} ms, {len(body) / 1024:.0f} KiB"
    )
    store.close()


if __name__ == "__main__":
    main()
