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

import logging
import re
import sys
import threading
from collections.abc import MutableMapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, TextIO

from loginprobe.redact import Redactor, redact_url

if TYPE_CHECKING:
    import asyncio

    from structlog.typing import Processor

OURS = "loginprobe"
LIBRARY_LEVEL = logging.WARNING
_URL = re.compile(r"https?://[^\s\"'<>]+")


class _Pending:
    """structlog's configuration, when `configure_logging(defer=True)` left it for later."""

    pending = False


class _Logger:
    """loginprobe's structlog logger, imported (and configured, if that was deferred) at its first
    use: importing structlog costs a fifth of a second, which `probe list` does without."""

    def __getattr__(self, name: str) -> Any:
        if _Pending.pending:
            _configure_structlog()
        import structlog

        return getattr(structlog.get_logger(OURS), name)


log: Any = _Logger()


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


def _shared() -> list[Processor]:
    import structlog

    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def _configure_structlog() -> None:
    import structlog

    _Pending.pending = False
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        wrapper_class=structlog.stdlib.BoundLogger,
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )


def _formatter(redactor: Redactor | None) -> logging.Formatter:
    import structlog

    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            scrub_exception_urls,
            redactor or Redactor(),
            structlog.processors.JSONRenderer(),
        ],
    )


class _DeferredFormatter(logging.Formatter):
    """The JSON formatter, built (and structlog configured) when the first record comes."""

    def __init__(self, redactor: Redactor | None) -> None:
        super().__init__()
        self.redactor = redactor
        self.real: logging.Formatter | None = None

    def format(self, record: logging.LogRecord) -> str:
        if self.real is None:
            if _Pending.pending:
                _configure_structlog()
            self.real = _formatter(self.redactor)
        return self.real.format(record)


def configure_logging(
    level: str = "info", redactor: Redactor | None = None, defer: bool = False
) -> None:
    """Route everything to stderr as JSON lines through `redactor`; callable again (a reload, or
    `probe serve` once it knows the secrets) to swap the level and the redactor. `defer`: import
    and configure structlog only when the first line is logged (through `log` here or the
    standard library), for commands that seldom log (`probe list`); a module of theirs that logs
    through its own structlog logger before then would get structlog's defaults."""
    ours = _level(level)
    handler = _Stderr()
    if defer:
        _Pending.pending = True
        handler.setFormatter(_DeferredFormatter(redactor))
    else:
        _configure_structlog()
        handler.setFormatter(_formatter(redactor))
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
    import asyncio

    asyncio.get_running_loop().set_exception_handler(loop_exception_handler)
