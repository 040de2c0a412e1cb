"""`python -m sandbox demo` — the incident, reproduced: a healthy login, then `probe serve` watching
the hub while its client secret expires, paging the local PagerDuty receiver, and resolving.
`python -m sandbox up` — run the sandbox until Ctrl-C, with a config and env file to probe it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sandbox import FAULTS, PROVIDERS, Sandbox, free_port


def _say(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def _probe(config: Path, sb: Sandbox, *args: str) -> int:
    argv = ["probe", "--config", str(config), *args]
    print(f"$ {' '.join(shlex.quote(a) for a in argv)}", flush=True)
    probe = Path(sys.executable).with_name("probe")
    return subprocess.run([str(probe), *argv[1:]], env={**os.environ, **sb.probe_env()}).returncode


class _Follower:
    """Prints the monitor's probe verdicts and what reaches PagerDuty, as they happen."""

    def __init__(self, log: Path, sb: Sandbox) -> None:
        self.log, self.sb, self.offset, self.seen = log, sb, 0, 0

    def until(self, condition: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            done = condition()
            self._print_new()
            if done:
                return
            if time.monotonic() > deadline:
                raise SystemExit(f"demo: nothing happened within {timeout:.0f}s; see {self.log}")
            time.sleep(0.3)

    def _print_new(self) -> None:
        text = self.log.read_text(errors="replace")
        end = text.rfind("\n") + 1  # whole lines only
        for line in text[self.offset : end].splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("event") == "probe":
                stamp = entry["timestamp"][11:19]
                print(f"  {stamp} probe  {entry['verdict']:<22} {entry['summary']}", flush=True)
        self.offset = end
        for event in self.sb.pagerduty.accepted[self.seen :]:
            stamp = time.strftime("%H:%M:%S", time.gmtime(event["_received_at"]))
            what = event.get("payload", {}).get("summary", "")
            print(
                f"  {stamp} \033[1mPagerDuty <- {event['event_action']}\033[0m "
                f"{event['dedup_key']} {what}",
                flush=True,
            )
        self.seen = len(self.sb.pagerduty.accepted)


def demo() -> int:
    _say(
        "Starting the sandbox: oidc-provider (IdP), configurable-http-proxy, JupyterHub + "
        "GenericOAuthenticator, and a local PagerDuty Events API receiver"
    )
    with Sandbox() as sb, tempfile.TemporaryDirectory(prefix="loginprobe-demo-") as tmp:
        print(f"hub {sb.hub_url}   IdP {sb.idp_url}   PagerDuty {sb.pagerduty.url}")
        port = free_port()
        config = sb.write_config(
            Path(tmp) / "config.toml",
            monitor=f'interval = "15s"\nretry_after_failure = "5s"\n'
            f'state = "sqlite:///{tmp}/state.sqlite"\nlisten = "127.0.0.1:{port}"',
        )
        _say("One probe now: a real browser logs in through the real OAuth flow")
        _probe(config, sb, "run", "sandbox")
        _say(
            f"The monitor: probe serve (every 15s; after a failure every 5s; page after 2 "
            f"failures, resolve after 2 successes; http://127.0.0.1:{port}/metrics)"
        )
        log = Path(tmp) / "serve.log"
        probe = Path(sys.executable).with_name("probe")
        with log.open("wb") as out:
            serve = subprocess.Popen(
                [str(probe), "--config", str(config), "serve"],
                env={**os.environ, **sb.probe_env()},
                stdout=out,
                stderr=out,
            )
        try:
            follow = _Follower(log, sb)
            follow.until(lambda: log.read_text().count('"verdict": "ok"') >= 2, 120)
            _say("The incident: the hub's OAuth client secret expires at the IdP")
            sb.set_fault("secret_expired")
            t0 = time.monotonic()
            follow.until(lambda: len(sb.pagerduty.accepted) >= 1, 180)
            print(f"  paged {time.monotonic() - t0:.0f}s after the secret expired")
            _say("The fix: a new secret is deployed (the fault is switched off)")
            sb.set_fault("secret_expired", False)
            t1 = time.monotonic()
            follow.until(lambda: len(sb.pagerduty.accepted) >= 2, 180)
            print(f"  resolved {time.monotonic() - t1:.0f}s after the fix")
        finally:
            serve.send_signal(signal.SIGTERM)
            serve.wait(30)
        _say("Done; the monitor stopped and the sandbox is torn down")
    return 0


def up(config_path: Path, provider: str = "oidc") -> int:
    with Sandbox(provider=provider) as sb:
        sb.write_config(config_path)
        env_file = config_path.with_suffix(".env")
        env_file.write_text(
            "".join(f"export {k}={shlex.quote(v)}\n" for k, v in sb.probe_env().items())
        )
        env_file.chmod(0o600)
        print(
            f"hub {sb.hub_url}\nIdP {sb.idp_url}\nconfig {config_path}\n"
            f"probe it:  source {env_file} && probe --config {config_path} run sandbox\n"
            f"faults (from Python, sandbox.Sandbox.set_fault): {', '.join(FAULTS)}\n"
            "Ctrl-C stops everything.",
            flush=True,
        )
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="a probe, then the monitor through an expired secret and its fix")
    p_up = sub.add_parser("up", help="run the sandbox until Ctrl-C")
    p_up.add_argument("--config", type=Path, default=Path("sandbox-config.toml"))
    p_up.add_argument(
        "--provider",
        default="oidc",
        choices=PROVIDERS,
        help="the IdP: oidc-provider (oidc), LemonLDAP::NG (lemonldap) or a stand-in",
    )
    args = parser.parse_args()
    return demo() if args.command == "demo" else up(args.config, args.provider)


if __name__ == "__main__":
    sys.exit(main())
