"""logs: ours and our libraries' logging, one JSON line per record, through the Redactor."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import sys
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from loginprobe.logs import configure_logging, handle_loop_exceptions, log
from loginprobe.prober.browser import BrowserLaunchError
from loginprobe.prober.hub_probe import log_crash
from loginprobe.redact import Redactor

SECRET = "correct-horse-battery-staple"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide state: give it back to pytest and other tests."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    ours = logging.getLogger("loginprobe").level
    hooks = (sys.excepthook, threading.excepthook, sys.unraisablehook)
    config = structlog.get_config()
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("loginprobe").setLevel(ours)
    sys.excepthook, threading.excepthook, sys.unraisablehook = hooks
    logging.captureWarnings(False)
    structlog.configure(**config)


def lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """Every line on stderr, each of which must be one JSON object."""
    err = capsys.readouterr().err
    assert SECRET not in err
    out = []
    for line in err.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pytest.fail(f"not a JSON line on stderr: {line!r}")
    return out


def test_a_library_record_is_one_json_line_with_secrets_masked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("info", Redactor([SECRET]))
    logging.getLogger("apscheduler.executors.default").error(
        "Job %s raised with password %s", "probe:h", SECRET
    )
    [line] = lines(capsys)
    assert line["event"] == "Job probe:h raised with password ***"
    assert line["level"] == "error"
    assert line["logger"] == "apscheduler.executors.default"
    assert "timestamp" in line


def test_deferred_logging_writes_the_same_json_lines_once_something_logs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`probe list` defers structlog: whatever it logs after all comes out as it does elsewhere,
    from a library, from our own logger, from an uncaught exception."""
    configure_logging("info", Redactor([SECRET]), defer=True)
    logging.getLogger("sqlalchemy.pool").warning("pool answered with %s", SECRET)
    log.warning("ours", key=SECRET)
    try:
        raise RuntimeError(f"broke at https://h.example/cb?code=c0de {SECRET}")
    except RuntimeError:
        sys.excepthook(*sys.exc_info())  # type: ignore[arg-type]
    library, ours, uncaught = lines(capsys)
    assert (library["event"], library["logger"]) == ("pool answered with ***", "sqlalchemy.pool")
    assert (ours["event"], ours["key"], ours["level"]) == ("ours", "***", "warning")
    assert uncaught["event"] == "uncaught exception"
    assert "cb?code=***" in uncaught["exception"] and "RuntimeError" in uncaught["exception"]


def test_a_library_exception_is_one_json_line_with_its_traceback_redacted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("info", Redactor([SECRET]))
    try:
        raise ConnectionError(f"bad answer at https://idp.example.org/cb?code=c0de&key={SECRET}")
    except ConnectionError:
        logging.getLogger("aiohttp.server").exception("Error handling request")
    [line] = lines(capsys)
    assert line["event"] == "Error handling request"
    assert line["exception"].startswith("Traceback (most recent call last):")
    assert (
        "ConnectionError: bad answer at https://idp.example.org/cb?code=***&key=***"
        in (line["exception"])
    )
    assert "c0de" not in line["exception"]


def test_our_exception_is_one_json_line_with_its_traceback_redacted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("info", Redactor([SECRET]))
    try:
        raise KeyError(SECRET)
    except KeyError as err:
        structlog.get_logger("loginprobe").error("it broke", hub="h", exc_info=err)
    [line] = lines(capsys)
    assert (line["event"], line["hub"], line["level"]) == ("it broke", "h", "error")
    assert "KeyError: '***'" in line["exception"]
    assert "test_logs.py" in line["exception"]


def test_libraries_log_from_warning_and_ours_at_the_level_asked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("debug")
    logging.getLogger("apscheduler.scheduler").info("Added job")
    logging.getLogger("httpx").info("HTTP Request: GET https://example.org/")
    logging.getLogger("urllib3.connectionpool").warning("Retrying")
    structlog.get_logger("loginprobe").debug("ours")
    assert [line["event"] for line in lines(capsys)] == ["Retrying", "ours"]


def test_reconfiguring_swaps_the_redactor_and_level_without_doubling_lines(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("warning")
    structlog.get_logger("loginprobe").info("not at warning")
    configure_logging("info", Redactor([SECRET]))
    structlog.get_logger("loginprobe").info("probe", detail=SECRET)
    [line] = lines(capsys)
    assert (line["event"], line["detail"]) == ("probe", "***")


def test_python_warnings_are_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("deprecated thing", DeprecationWarning, stacklevel=1)
    [line] = lines(capsys)
    assert line["logger"] == "py.warnings"
    assert "deprecated thing" in line["event"]


def test_an_exception_nobody_awaited_is_one_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", Redactor([SECRET]))

    async def main() -> None:
        handle_loop_exceptions()

        async def boom() -> None:
            raise RuntimeError(f"lost {SECRET}")

        task = asyncio.ensure_future(boom())
        await asyncio.wait({task})
        del task  # never retrieved: asyncio reports it when the task is collected
        gc.collect()

    asyncio.run(main())
    [line] = lines(capsys)
    assert line["event"] == "unhandled exception in the event loop"
    assert line["asyncio_message"] == "Task exception was never retrieved"
    assert "RuntimeError: lost ***" in line["exception"]


def test_an_uncaught_exception_in_a_thread_is_one_json_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("info", Redactor([SECRET]))

    def work() -> None:
        raise ValueError(SECRET)

    t = threading.Thread(target=work, name="sender")
    t.start()
    t.join()
    [line] = lines(capsys)
    assert (line["event"], line["thread"]) == ("uncaught exception in a thread", "sender")
    assert "ValueError: ***" in line["exception"]


def test_a_prober_crash_logs_its_traceback_at_error(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("warning", Redactor([SECRET]))
    try:
        {}["username_field"]
    except KeyError as err:
        log_crash("utoronto", err)
    [line] = lines(capsys)
    assert (line["event"], line["level"], line["hub"]) == ("probe crashed", "error", "utoronto")
    assert "Traceback (most recent call last)" in line["exception"]
    assert "KeyError: 'username_field'" in line["exception"]


def test_a_browser_that_cannot_start_logs_no_traceback_by_default(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("warning")
    try:
        raise BrowserLaunchError("could not start Chromium (/bin/false): exited")
    except BrowserLaunchError as err:
        log_crash("utoronto", err)
    assert lines(capsys) == []
