"""Private temporary directories that a killed probe does not leave behind.

Chromium's throwaway home, Playwright's working files of traces and a failing probe's raw trace
hold what the browser saw until the probe ends: cookies, OAuth codes, an IdP's pages. Each lives
in a directory `loginprobe-<kind>-*` of the temporary directory, private (0700) and locked (flock)
by its process for as long as it lives. The kernel drops the lock when the process dies, however
it dies (`kill -9` included), so `sweep()` — run before every browser launch — removes each such
directory whose lock nobody holds: the leftovers of a killed probe go at the next start.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
import time
from pathlib import Path
from types import TracebackType

KINDS = ("browser", "traces", "evidence")
LOCK = ".owner"
# A directory made by a version that did not lock it, or caught between its making and its
# lock: left alone this long, so a running probe is never swept.
UNLOCKED_GRACE_S = 3600.0


class ScratchDir:
    """A private directory, locked by this process until `remove()` (or the process's death)."""

    def __init__(self, kind: str, base: Path | None = None) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown scratch kind {kind!r}")
        self.path = Path(tempfile.mkdtemp(prefix=f"loginprobe-{kind}-", dir=base))
        self._fd: int | None = os.open(
            self.path / LOCK, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600
        )
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> Path:
        return self.path

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.remove()


def _abandoned(directory: Path, now: float) -> bool:
    lock = directory / LOCK
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError:
        with contextlib.suppress(OSError):
            return now - directory.stat().st_mtime > UNLOCKED_GRACE_S
        return False
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False  # its process is alive
    finally:
        os.close(fd)
    return True


def sweep(base: Path | None = None, now: float | None = None) -> list[Path]:
    """Remove the scratch directories of dead processes (this user's only); what was removed."""
    root = Path(base or tempfile.gettempdir())
    when = time.time() if now is None else now
    removed: list[Path] = []
    for kind in KINDS:
        for directory in root.glob(f"loginprobe-{kind}-*"):
            try:
                st = directory.lstat()
            except OSError:
                continue
            if not directory.is_dir() or directory.is_symlink() or st.st_uid != os.geteuid():
                continue
            if _abandoned(directory, when):
                shutil.rmtree(directory, ignore_errors=True)
                removed.append(directory)
    return removed
