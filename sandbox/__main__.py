"""`python -m sandbox demo` — the incident, reproduced: a healthy login, then an expired secret.
`python -m sandbox up` — run the sandbox until Ctrl-C, with a config and env file to probe it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from sandbox import FAULTS, Sandbox


def _say(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def _probe(config: Path, sb: Sandbox, *args: str) -> int:
    argv = ["probe", "--config", str(config), *args]
    print(f"$ {' '.join(shlex.quote(a) for a in argv)}", flush=True)
    probe = Path(sys.executable).with_name("probe")
    return subprocess.run([str(probe), *argv[1:]], env={**os.environ, **sb.probe_env()}).returncode


def demo() -> int:
    _say(
        "Starting the sandbox: oidc-provider (IdP), configurable-http-proxy, JupyterHub + GenericOAuthenticator"
    )
    with Sandbox() as sb, tempfile.TemporaryDirectory(prefix="loginprobe-demo-") as tmp:
        print(f"hub {sb.hub_url}   IdP {sb.idp_url}")
        config = sb.write_config(Path(tmp) / "config.toml")
        _say("A healthy hub: a real browser logs in through the real OAuth flow")
        _probe(config, sb, "run", "sandbox")
        _say("The incident: the hub's OAuth client secret expires at the IdP")
        sb.set_fault("secret_expired")
        code = _probe(config, sb, "run", "sandbox")
        print(f"(exit code {code}: the hub is failing)")
        _say("The fix: a new secret is deployed (the fault is switched off)")
        sb.set_fault("secret_expired", False)
        _probe(config, sb, "run", "sandbox")
        _say("Done; the sandbox is torn down")
    return 0


def up(config_path: Path) -> int:
    with Sandbox() as sb:
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
    sub.add_parser("demo", help="show a healthy login, the expired secret, and the fix")
    p_up = sub.add_parser("up", help="run the sandbox until Ctrl-C")
    p_up.add_argument("--config", type=Path, default=Path("sandbox-config.toml"))
    args = parser.parse_args()
    return demo() if args.command == "demo" else up(args.config)


if __name__ == "__main__":
    sys.exit(main())
