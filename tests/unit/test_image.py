"""The Dockerfile's promises that need no build: what it runs, as whom, and where it looks."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from loginprobe import config as cfg
from tests import dockerfile


def test_healthcheck_asks_the_port_the_monitor_listens_on_by_default() -> None:
    url = urlsplit(dockerfile.healthcheck_url())
    host, port = cfg.MonitorConfig().listen_address
    assert url.path == "/healthz"
    # Inside the container the default 127.0.0.1 answers the HEALTHCHECK too; "0.0.0.0:9464"
    # (deploy/configmap.yaml) adds the outside. Another port needs --health-cmd.
    assert (url.hostname, url.port) == ("127.0.0.1", port)
    assert host in ("127.0.0.1", "0.0.0.0")
    assert dockerfile.exposed_ports() == [port]


def test_the_image_runs_probe_serve_under_tini_in_exec_form_as_a_non_root_user() -> None:
    # tini as PID 1 reaps the orphans Chromium's helpers leave and forwards SIGTERM.
    assert dockerfile.exec_form(dockerfile.one("ENTRYPOINT")) == ["/usr/bin/tini", "--", "probe"]
    assert any("tini" in r and "apt-get install" in r for r in dockerfile.all_of("RUN"))
    assert dockerfile.exec_form(dockerfile.one("CMD")) == ["serve"]
    uid, gid = dockerfile.user()
    assert uid != 0 and gid != 0


def test_the_image_points_the_cli_at_the_mounted_config() -> None:
    env = dockerfile.env()
    assert env[cfg.CONFIG_ENV] == "/etc/loginprobe/config.toml"
    # Playwright's own Chromium goes where every user can read it, not root's home.
    assert env["PLAYWRIGHT_BROWSERS_PATH"].startswith("/opt/")
    assert any("playwright install --with-deps chromium" in r for r in dockerfile.all_of("RUN"))


def test_dockerfile_reader_joins_continuations_and_drops_comments(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text(
        "# a comment\nFROM python:3.11-slim\nENV A=1 \\\n    # inside\n    B=/x\n"
        'HEALTHCHECK --interval=5s \\\n    CMD ["true"]\n'
    )
    names = [i.name for i in dockerfile.instructions(path)]
    assert names == ["FROM", "ENV", "HEALTHCHECK"]
    assert dockerfile.instructions(path)[1].args.split() == ["A=1", "B=/x"]
