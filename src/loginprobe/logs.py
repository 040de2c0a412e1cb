"""Logging: one JSON line per record on stderr, with every known secret scrubbed on the way out.

Ours (structlog) and our libraries' (the standard library's `logging`: APScheduler, asyncio,
aiohttp, httpx, urllib3, the pagerduty client, Python's warnings) go through the same processors
and the same Redactor, rendered by structlog's ProcessorFormatter. A traceback is a field
(`exception`) of its line, scrubbed like the rest, with the query values of any URL in it masked
(Playwright's errors quote the URLs they were at: OAuth codes and states). Uncaught exceptions (in
the main thread, in threads, in the event loop, and those Python can only ignore) are logged the
same way instead of printed as plain text.

Levels: loginprobe's own logger at the level asked for; libraries at WARNING (or the level asked
for, if higher): their INFO and DEBUG lines are noise (APScheduler's per-job lines) or name URLs
(httpx's request lines).
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import threading
from collections.abc import MutableMapping
from types import TracebackType
from typing import Any, TextIO

import structlog
from structlog.typing import Processor

from loginprobe.redact import Redactor, redact_url

OURS = "loginprobe"
LIBRARY_LEVEL = logging.WARNING
_URL = re.compile(r"https?://[^\s\"'<>]+")

log = structlog.get_logger(OURS)


class _Stderr(logging.StreamHandler[TextIO]):
    """Writes to whatever sys.stderr is when a record comes (a test may have swapped it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _: TextIO) -> None:
        pass


def scrub_exception_urls(
    logger: Any, method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: the URLs in a traceback lose their query values (redact_url)."""
    text = event.get("exception")
    if isinstance(text, str):
        event["exception"] = _URL.sub(lambda m: redact_url(m.group(0)), text)
    return event


def _level(name: str) -> int:
    return logging.getLevelNamesMapping().get(name.upper(), logging.INFO)


def configure_logging(level: str = "info", redactor: Redactor | None = None) -> None:
    """Route everything to stderr as JSON lines through `redactor`; callable again (a reload, or
    `probe serve` once it knows the secrets) to swap the level and the redactor."""
    ours = _level(level)
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        wrapper_class=structlog.stdlib.BoundLogger,
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    handler = _Stderr()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                scrub_exception_urls,
                redactor or Redactor(),
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Stderr)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(max(ours, LIBRARY_LEVEL))
    logging.getLogger(OURS).setLevel(ours)
    logging.captureWarnings(True)
    sys.excepthook = _uncaught
    threading.excepthook = _uncaught_in_thread
    sys.unraisablehook = _unraisable


def _uncaught(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value, tb)
        return
    log.critical("uncaught exception", exc_info=(kind, value, tb))


def _uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is None or isinstance(args.exc_value, SystemExit):
        return
    thread = args.thread.name if args.thread is not None else None
    log.error(
        "uncaught exception in a thread",
        thread=thread,
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
    )


def _unraisable(args: Any) -> None:  # sys.UnraisableHookArgs
    exc_info = (
        (args.exc_type, args.exc_value, args.exc_traceback) if args.exc_value is not None else None
    )
    log.error(
        "exception ignored",
        message=args.err_msg or "Exception ignored in",
        object=repr(args.object)[:300],
        exc_info=exc_info,
    )


def loop_exception_handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """asyncio's handler of exceptions nobody awaited ("Task exception was never retrieved", a
    callback that raised): one JSON line with the traceback, not asyncio's plain text."""
    exc = context.get("exception")
    where = {
        k: repr(context[k])[:300]
        for k in ("task", "future", "handle", "protocol", "transport")
        if k in context
    }
    log.error(
        "unhandled exception in the event loop",
        asyncio_message=context.get("message", ""),
        exc_info=exc if isinstance(exc, BaseException) else None,
        **where,
    )


def handle_loop_exceptions() -> None:
    """Install loop_exception_handler on the running event loop."""
    asyncio.get_running_loop().set_exception_handler(loop_exception_handler)
