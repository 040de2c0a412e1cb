"""The Dockerfile's own install commands, run outside Docker, give an image whose entry point starts.

The build is replayed from the Dockerfile's text, instruction by instruction, into a directory that
stands in for the image's root filesystem: ENV (absolute paths moved under that root), WORKDIR, COPY,
and every command of every RUN. A fresh venv stands in for the base image's Python, so `pip` and
`probe` there are the image's. Then the ENTRYPOINT + CMD run the way `docker run` would start them:
`probe --help`, `probe check` with the example config and secrets from the environment, and the
default `probe serve`, polled with the exact HEALTHCHECK command until it passes.

What differs from a real build, on purpose:
- `pip install` may use this machine's pip cache: the Dockerfile sets PIP_NO_CACHE_DIR to keep the
  image small. (Where the package index's answers say nothing of caching, pip keeps none and
  downloads the locked wheels again anyway; on this machine's fast mirror that costs little.) The
  same pinned wheels are installed, with pip itself, not a faster stand-in. That is most of the
  test's time: 44 s alone (the venv 8 s, the locked wheels 30 s, the project 5 s), 68-152 s on the
  2-core machine shared with other test runs (`uv pip install` would take seconds, but would not be
  the Dockerfile's command).
- `playwright install --with-deps chromium` runs as `playwright install --dry-run chromium`: it
  downloads Chromium from Playwright's CDN (not reachable here) and apt-gets its system libraries
  (root, and it would change this shared machine). The dry run still shows the installed CLI accepts
  the command and would put the browser under $PLAYWRIGHT_BROWSERS_PATH. Without that browser,
  `probe serve` falls back to the system Chromium, the product's documented fallback.
- `groupadd`/`useradd`/`chown` (the image's non-root user) are not run: they need root and would
  change this machine. tests/unit/test_deploy.py holds the Kubernetes example to that USER.
- `probe serve` runs in its own network namespace where the kernel allows it (`unshare -rn`), so the
  HEALTHCHECK's 127.0.0.1:9464 is its own, as in a container; else on the host's loopback, where the
  port must be free.
Any other RUN command fails the test: teach it here when the Dockerfile learns something new.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from tests import dockerfile

ROOT = Path(__file__).resolve().parents[2]
SKIPPED_RUN = {
    "groupadd": "creates the image's user: needs root, would change this machine",
    "useradd": "creates the image's user: needs root, would change this machine",
    "chown": "hands the state directory to the image's user",
    "rm": "cleans apt's lists after `playwright install --with-deps`",
}


class Image:
    """A directory standing in for the image's root filesystem, and a venv for its Python."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.venv = root / "venv"
        self.cwd = root
        self.env: dict[str, str] = {}
        self.log: list[str] = []

    def path(self, container_path: str) -> Path:
        return self.root / container_path.lstrip("/")

    def environ(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LOGINPROBE", "VIRTUAL"))}
        env.update(self.env)
        env["PATH"] = f"{self.venv / 'bin'}{os.pathsep}{os.environ['PATH']}"
        env.pop("PIP_NO_CACHE_DIR", None)  # see the module docstring: the pip cache
        return env

    def run(self, argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        self.log.append(shlex.join(argv))
        done = subprocess.run(
            argv, cwd=self.cwd, env=self.environ(), capture_output=True, text=True, **kw
        )
        assert done.returncode == 0, f"{shlex.join(argv)} failed:\n{done.stdout}\n{done.stderr}"
        return done

    def run_command(self, command: str) -> None:
        argv = shlex.split(command)
        if argv[:2] == ["pip", "install"]:
            self.run([str(self.venv / "bin" / "pip"), *argv[1:]], timeout=600)
        elif argv[:2] == ["playwright", "install"]:
            assert "chromium" in argv, command
            args = [a for a in argv[2:] if a != "--with-deps"]
            out = self.run([str(self.venv / "bin" / "playwright"), "install", "--dry-run", *args])
            assert self.env["PLAYWRIGHT_BROWSERS_PATH"] in out.stdout, out.stdout
        elif argv[:2] == ["apt-get", "update"]:
            self.log.append(f"# skipped: {command} (the package lists of this machine are used)")
        elif argv[:2] == ["apt-get", "install"]:
            # The packages must exist in Debian and work: scripts/setup installed them here.
            for package in (a.split("=")[0] for a in argv[2:] if not a.startswith("-")):
                self.run(["dpkg", "-s", package])
        elif argv[:2] == ["mkdir", "-p"]:
            for d in argv[2:]:
                self.path(d).mkdir(parents=True, exist_ok=True)
        elif argv[0] in SKIPPED_RUN:
            self.log.append(f"# skipped: {command} ({SKIPPED_RUN[argv[0]]})")
        else:
            raise AssertionError(f"the Dockerfile runs {command!r}: teach {__file__} about it")

    def build(self) -> None:
        (base,) = dockerfile.all_of("FROM")
        assert re.fullmatch(r"python:3\.11-slim(-\w+)?", base), f"not a slim Python 3.11: {base}"
        subprocess.run([sys.executable, "-m", "venv", str(self.venv)], check=True)
        for ins in dockerfile.instructions():
            if ins.name == "ENV":
                continue  # read once below, in order of appearance, before anything runs
            if ins.name == "WORKDIR":
                self.cwd = self.path(ins.args)
                self.cwd.mkdir(parents=True, exist_ok=True)
            elif ins.name == "COPY":
                *sources, dest = ins.args.split()
                for source in sources:
                    target = self.cwd / dest / Path(source).name if dest.endswith("/") else None
                    target = target or (self.cwd / dest)
                    if (ROOT / source).is_dir():
                        shutil.copytree(ROOT / source, target, dirs_exist_ok=True)
                    else:
                        shutil.copy2(ROOT / source, target)
            elif ins.name == "RUN":
                for command in ins.args.split("&&"):
                    self.run_command(command.strip())

    def read_env(self) -> None:
        for key, value in dockerfile.env().items():
            self.env[key] = str(self.path(value)) if value.startswith("/") else value


def _deploy_example() -> tuple[str, dict[str, str]]:
    """The example config for this image (deploy/configmap.yaml) and its secrets (placeholders)."""
    docs = {d["kind"]: d for d in yaml.safe_load_all((ROOT / "deploy/configmap.yaml").read_text())}
    secret = yaml.safe_load((ROOT / "deploy/secret.yaml").read_text())
    return docs["ConfigMap"]["data"]["config.toml"], dict(secret["stringData"])


def _can_unshare() -> bool:
    unshare = shutil.which("unshare")
    return bool(unshare) and subprocess.run([unshare, "-rn", "true"]).returncode == 0


def test_dockerfile_install_commands_give_a_working_entry_point(tmp_path: Path) -> None:
    t0 = time.monotonic()
    image = Image(tmp_path / "image")
    image.read_env()
    image.build()
    built_s = time.monotonic() - t0

    # The config the image is run with: mounted at $LOGINPROBE_CONFIG, its volume under our root.
    config_text, secrets = _deploy_example()
    for volume in json.loads(dockerfile.one("VOLUME")):
        config_text = config_text.replace(volume, str(image.path(volume)))
    config = Path(image.env["LOGINPROBE_CONFIG"])
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(config_text)
    image.env.update(secrets)

    entrypoint = dockerfile.exec_form(dockerfile.one("ENTRYPOINT"))
    # tini (installed by apt, at the same path here) runs `probe`, which the image's PATH finds.
    assert Path(entrypoint[0]).is_file(), f"{entrypoint[0]} is not installed here"
    at = entrypoint.index("probe")
    entrypoint[at] = str(image.venv / "bin" / "probe")
    cmd = dockerfile.exec_form(dockerfile.one("CMD"))
    assert cmd == ["serve"], "the image runs the monitor by default"

    usage = image.run([*entrypoint, "--help"])
    assert "serve" in usage.stdout and "check" in usage.stdout
    checked = image.run([*entrypoint, "check"])  # no --config: $LOGINPROBE_CONFIG from ENV
    assert "every secret present" in checked.stdout

    # `probe serve` until its HEALTHCHECK passes, then SIGTERM, as `docker stop` would.
    healthcheck = dockerfile.healthcheck_cmd()
    healthcheck[0] = str(image.venv / "bin" / healthcheck[0])
    netns = _can_unshare()
    spec = {
        "serve": [*entrypoint, *cmd],
        "healthcheck": healthcheck,
        "healthz_url": dockerfile.healthcheck_url(),
        "cwd": str(image.cwd),
        "env": image.environ(),
        "netns": netns,
        "deadline_s": 60,
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    runner = [sys.executable, str(Path(__file__).with_name("entrypoint_run.py"))]
    if netns:
        runner = ["unshare", "--net", "--map-root-user", *runner]
    done = subprocess.run(
        [*runner, str(tmp_path / "spec.json")], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["healthy_after_s"] is not None, (
        f"the HEALTHCHECK never passed ({result['attempts']} attempts, rc "
        f"{result.get('healthcheck_rc')}): {result.get('healthcheck_stderr')}\n"
        f"probe serve said:\n{result['serve_stderr_tail']}"
    )
    assert result["healthz"]["scheduler_running"] is True
    assert result["healthz"]["pagerduty"] is True
    assert result["serve_rc"] == 0, result["serve_stderr_tail"]
    assert result["stopped_in_s"] < 15
    # The state went where the config and the image's VOLUME put it.
    (volume,) = json.loads(dockerfile.one("VOLUME"))
    assert (image.path(volume) / "loginprobe.sqlite").is_file()
    assert urlsplit(spec["healthz_url"]).port == 9464
    print(
        f"build {built_s:.0f}s; healthy after {result['healthy_after_s']}s "
        f"({'own network namespace' if netns else 'host loopback'}); commands: {image.log}"
    )
