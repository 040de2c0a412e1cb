"""Benchmark: how fast does `probe serve` page, and resolve, when a client secret expires?

Runs `probe serve` against the sandbox with interval 60 s and the default confirm settings
(failures_to_alert 2, retry_after_failure 20 s, successes_to_resolve 2), then, N times: waits a
random part of an interval, expires the client secret, measures the seconds until the trigger
reaches the local PagerDuty receiver, fixes the secret, measures the seconds until the resolve.

    .venv/bin/python benchmarks/incident_timing.py [--runs 3]

Targets (issue 3): trigger within 90 s, resolve within 75 s.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sandbox import Sandbox, free_port


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--interval", default="60s")
    args = parser.parse_args()
    triggers, resolves = [], []
    with Sandbox() as sb, tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        config = sb.write_config(
            Path(tmp) / "config.toml",
            monitor=f'interval = "{args.interval}"\nstate = "sqlite:///{tmp}/state.sqlite"\n'
            f'listen = "127.0.0.1:{port}"',
        )
        probe = Path(sys.executable).with_name("probe")
        log = (Path(tmp) / "serve.log").open("wb")
        serve = subprocess.Popen(
            [str(probe), "--config", str(config), "serve"],
            env={**os.environ, **sb.probe_env()},
            stdout=log,
            stderr=log,
        )
        try:
            time.sleep(random.uniform(5, 60))  # the fault lands anywhere in an interval
            for i in range(args.runs):
                seen = len(sb.pagerduty.accepted)
                t0 = time.monotonic()
                sb.set_fault("secret_expired")
                sb.pagerduty.wait_for(lambda ev, n=seen: len(ev) > n, 300)
                triggers.append(time.monotonic() - t0)
                t1 = time.monotonic()
                sb.set_fault("secret_expired", False)
                sb.pagerduty.wait_for(lambda ev, n=seen: len(ev) > n + 1, 300)
                resolves.append(time.monotonic() - t1)
                kinds = [e["event_action"] for e in sb.pagerduty.accepted[seen:]]
                assert kinds == ["trigger", "resolve"], kinds
                print(
                    f"run {i + 1}: fault -> trigger {triggers[-1]:.1f} s, "
                    f"fix -> resolve {resolves[-1]:.1f} s",
                    flush=True,
                )
                if i + 1 < args.runs:
                    time.sleep(random.uniform(5, 60))  # healthy for a while, then again
        finally:
            serve.send_signal(signal.SIGTERM)
            serve.wait(30)
    print(
        f"fault -> trigger: median {statistics.median(triggers):.1f} s, max {max(triggers):.1f} s"
        f" (target 90 s); fix -> resolve: median {statistics.median(resolves):.1f} s, "
        f"max {max(resolves):.1f} s (target 75 s); {args.runs} runs, interval {args.interval}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
