"""A throwaway PostgreSQL server for the tests: Debian's `postgresql` package (scripts/setup
installs it), its own cluster in a temporary directory, on a free port of 127.0.0.1, password
authentication (scram-sha-256) as the store uses it in production, and gone when the tests end.

initdb and the server refuse to run as root, so as root they run as the package's `postgres` user.
Each test gets a database of its own (`fresh_database`, empty; `fresh_store_database`, at the
store's schema): CREATE DATABASE copies a small template, a few tens of milliseconds.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

USER = "loginprobe"
# Not a secret: the password of a server that lives for one test session on loopback. Tests search
# outputs for it to prove a password in the state URL never shows.
PASSWORD = "pg-test-pw-3c9f1e7a52"
SYSTEM_USER = "postgres"  # Debian's postgresql package creates it


class PostgresUnavailable(Exception):
    pass


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise PostgresUnavailable(
            "no /usr/lib/postgresql/*/bin/initdb: install Debian's postgresql package "
            "(scripts/setup does)"
        )
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class PostgresServer:
    root: Path
    port: int
    bin_dir: Path
    as_user: list[str]
    _names: itertools.count[int] = field(default_factory=itertools.count)
    _migrated: str | None = None

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str, password: str = PASSWORD) -> str:
        return f"postgresql+psycopg://{USER}:{password}@127.0.0.1:{self.port}/{database}"

    def fresh_database(self) -> str:
        """The URL of a new, empty database."""
        return self.url(self._create())

    def fresh_store_database(self) -> str:
        """The URL of a new database already at the store's newest schema: a copy of one the
        store migrated once this session, so each test does not pay Alembic's ~0.4 s again."""
        if self._migrated is None:
            from loginprobe.store import Store

            name = self._create()
            Store(self.url(name)).close()
            self._migrated = name
        return self.url(self._create(self._migrated))

    def _create(self, template: str = "template1") -> str:
        import psycopg

        name = f"t{os.getpid()}_{next(self._names)}"
        with psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=USER,
            password=PASSWORD,
            dbname="postgres",
            autocommit=True,
        ) as conn:
            # FILE_COPY: the template is tiny, and copying its files beats WAL-logging each page.
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY')
        return name

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.as_user, *args], capture_output=True, text=True, timeout=120, check=False
        )

    def start(self) -> None:
        pwfile = self.root / "pwfile"
        pwfile.write_text(PASSWORD + "\n")
        self._chown(pwfile)
        done = self._run(
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            USER,
            f"--pwfile={pwfile}",
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        pwfile.unlink()
        if done.returncode != 0:
            raise PostgresUnavailable(f"initdb failed: {_last_line(done)}")
        self.resume()

    def resume(self) -> None:
        """Start the server on its cluster and port (again, after `halt`)."""
        options = " ".join(
            [
                f"-p {self.port}",
                "-c listen_addresses=127.0.0.1",
                f"-c unix_socket_directories={self.root}",
                # Durability is not what these tests are about; speed is.
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
            ]
        )
        done = self._run(
            str(self.bin_dir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
        if done.returncode != 0:
            log = (self.root / "server.log").read_text(errors="replace").strip().splitlines()
            raise PostgresUnavailable(
                f"pg_ctl start failed: {_last_line(done)}; server log: {log[-1] if log else ''}"
            )

    def pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None

    def halt(self) -> None:
        """Stop the server as an operator's restart does (fast: clients are disconnected) and
        wait until its postmaster is gone (its children go with it); its cluster stays."""
        pid = self.pid()
        if pid is not None:
            self._run(
                str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"
            )
            deadline = time.monotonic() + 30
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)  # polling the process table, not waiting for time to pass
            if _alive(pid):
                os.kill(pid, 9)

    def stop(self) -> None:
        """Stop the server and remove its cluster."""
        self.halt()
        shutil.rmtree(self.root, ignore_errors=True)

    def _chown(self, path: Path) -> None:
        if self.as_user:
            entry = pwd.getpwnam(SYSTEM_USER)
            os.chown(path, entry.pw_uid, entry.pw_gid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is gone for our purposes; pg_ctl's postmaster is not our child, so it is reaped.
    try:
        return "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False


def _last_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = (done.stderr or done.stdout).strip().splitlines()
    return lines[-1] if lines else f"exit status {done.returncode}"


PREFIX = "loginprobe-pg-"
OWNER = "owner.pid"  # the test process a server belongs to


def stop_orphans() -> None:
    """Stop the servers of test sessions that were killed before their teardown (a timeout, a
    SIGKILL): each server's directory names the process it belongs to."""
    for root in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
        try:
            owner = int((root / OWNER).read_text())
        except (OSError, ValueError):
            continue
        if not _alive(owner):
            as_user = ["runuser", "-u", SYSTEM_USER, "--"] if os.geteuid() == 0 else []
            PostgresServer(root, 0, _bin_dir(), as_user).stop()


def start_server() -> PostgresServer:
    """A running server, or PostgresUnavailable saying why not."""
    bin_dir = _bin_dir()
    stop_orphans()
    as_user: list[str] = []
    root = Path(tempfile.mkdtemp(prefix=PREFIX))
    (root / OWNER).write_text(str(os.getpid()))
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            shutil.rmtree(root)
            raise PostgresUnavailable(
                f"no {SYSTEM_USER!r} user to run PostgreSQL as (root may not): install Debian's "
                "postgresql package (scripts/setup does)"
            ) from None
        as_user = ["runuser", "-u", SYSTEM_USER, "--"]
    server = PostgresServer(root, _free_port(), bin_dir, as_user)
    server._chown(root)
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    return server
