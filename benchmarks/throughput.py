"""Benchmark: how close does `probe serve` come to the browser's floor?

Both sides in one run, on one sandbox (JupyterHub + oidc-provider), one after the other (or at
once, `--together`):

- the floor: a bare Playwright script doing the same login (a fresh context per login, one warm
  shared Chromium launched as loginprobe launches it, the same concurrency), no verdicts, no
  evidence, no store;
- `probe serve` with N hub entries on the sandbox's hub, an interval short enough that it is always
  busy, the same concurrency, evidence as configured by default (or off with --no-evidence).

Each side gets a warm-up, then a measured window; for each it prints logins per minute, the median
login, CPU-seconds per login (the whole process tree: Python, Playwright's driver, Chromium, its
renderers included once they end) and peak PSS of the tree, and the median ms of each step of
a login (the floor's calls; the probe's steps, from its store); then the ratios to the floor. With
`--rounds N` both sides run N times, alternating which goes first, and it prints each round's
ratios, their medians, how many rounds alone meet each target, and (in turn) the CPU ratio's
median by which side went first and the geometric mean of all rounds: on a busy or noisy machine
one run moves by 10-15%, and the side that goes second meets the machine as it has drifted
through the round. With `--rounds N
--together` both sides run at once in each round, measured over the same window, so that the
machine's drift between one minute and the next (up to 20% on a shared host) weighs on both alike;
each keeps its own concurrency, so twice as many logins are in flight as with one side alone.
Together, the CPU-per-login ratio is the steadier figure: the throughput ratio leans toward 1.0,
since the kernel shares the CPUs by thread and not by side, so some of what the monitor spends
more is paid from the floor's throughput. The serve side's window opens only once every hub has
had its first probe (each records a trace).

    .venv/bin/python benchmarks/throughput.py [--hubs 24] [--interval 10] [--concurrency 4]
        [--warmup 25] [--seconds 90] [--no-evidence] [--no-stand-in] [--side both|bare|serve]
        [--flow benchmarks/flows/sandbox_fixed.py] [--profile FILE] [--rounds N [--together]]
    .venv/bin/python benchmarks/throughput.py --replicas 2 [--lease-ttl 30] [the options above]

With `--replicas N` it measures `probe serve` replicas instead of the floor: N replicas on one
PostgreSQL (a throwaway server, as the tests start it) sharing the hubs, against one replica on the
same store, and prints logins per minute of each, the ratio, and the failover time (the replica
holding the most hubs killed with SIGKILL: seconds until the others have started a probe of each of
its hubs), with the load average, since replicas on one machine share its CPUs.

Target (issue 11): throughput >= 0.95x the floor, CPU per login <= 1.05x, evidence on. Target
(issue 15): >= 1.8x with two replicas (on machines of their own), failover within two intervals.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from probe_run import tree_memory  # the process-tree memory accounting, shared

from loginprobe.monitor.capacity import process_tree_cpu_each
from sandbox import Sandbox, free_port

if TYPE_CHECKING:
    from playwright.async_api import Browser


# `python -c CPU_PROFILE FILE SCRIPT ARGS...`: SCRIPT under cProfile timed by the main thread's
# CPU clock (`-m cProfile` times by the wall clock: on a busy machine a call that waits for a
# core, a pipe write waking the driver say, looks dear; the process's clock would charge the
# store's worker threads to whatever the main thread runs), its stats to FILE when it exits. The
# profiler's own cost inflates Python's share of a profiled run: compare its figures with none.
CPU_PROFILE = """
import cProfile, runpy, sys, time
out, sys.argv = sys.argv[1], sys.argv[2:]
profiler = cProfile.Profile(time.thread_time)
profiler.enable()
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
finally:
    profiler.disable()
    profiler.dump_stats(out)
"""


@dataclass
class Side:
    name: str
    logins: int
    seconds: float
    median_s: float
    cpu_s: float
    peak_pss: int
    by_kind: str = ""  # CPU-seconds per login of each kind of process
    steps: str = ""  # the median ms of each step of a login (the floor's calls, the probe's steps)

    @property
    def per_min(self) -> float:
        return self.logins * 60 / self.seconds

    @property
    def cpu_per_login(self) -> float:
        return self.cpu_s / max(1, self.logins)

    def row(self) -> str:
        return (
            f"| {self.name} | {self.per_min:.0f} | {self.median_s:.1f} s | "
            f"{self.cpu_per_login:.2f} s | {self.peak_pss / 2**30:.2f} GiB |"
        )


class Sampler:
    """Peak PSS of a process tree, sampled every half second in a thread."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.peak = max(self.peak, tree_memory(self.pid)[1])

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def _kind(pid: int) -> str:
    """What a process of the tree is: Python, Playwright's driver, or a kind of Chromium process."""
    try:
        # Chromium rewrites its command line into one string: split on spaces too.
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").split()
    except OSError:
        return "gone"
    if not argv:
        return "zombie"  # ended, not yet reaped: its CPU is counted in its parent's once it is
    exe = Path(argv[0].decode(errors="replace")).name
    for arg in argv:
        if arg.startswith(b"--type="):
            kind = arg.decode(errors="replace").removeprefix("--type=")
            if kind == "utility":
                sub = [a for a in argv if a.startswith(b"--utility-sub-type=")]
                kind += sub[0].decode(errors="replace").rsplit(".", 1)[-1] if sub else ""
            return f"chromium {kind}"
    if "chrom" in exe:
        return "chromium browser"
    return "node (Playwright's driver)" if exe == "node" else exe


def tree_cpu_by_kind(root: int, leave_out: Collection[int] = ()) -> dict[str, float]:
    """CPU-seconds of each kind of process in the tree (ended children counted in their parent's
    kind: renderers end in the zygote's), without the subtrees rooted at `leave_out`."""
    theirs = {pid for other in leave_out for pid in process_tree_cpu_each(other)}
    out: dict[str, float] = {}
    for pid, used in process_tree_cpu_each(root).items():
        if pid not in theirs:
            kind = _kind(pid)
            out[kind] = out.get(kind, 0.0) + used
    return out


def _by_kind(before: dict[str, float], after: dict[str, float], logins: int) -> str:
    kinds = sorted(set(before) | set(after), key=lambda k: -(after.get(k, 0) - before.get(k, 0)))
    return ", ".join(
        f"{k} {(after.get(k, 0) - before.get(k, 0)) / max(1, logins):.2f}" for k in kinds
    )


def _measured(
    name: str,
    ok: list[float],
    seconds: float,
    peak_pss: int,
    kinds0: dict[str, float],
    kinds1: dict[str, float],
    steps: list[dict[str, int]],
) -> Side:
    """A side from its successful logins' durations and its tree's CPU by kind before and after
    the window (the total is their sum), and each successful login's ms per step."""
    cpu = sum(kinds1.values()) - sum(kinds0.values())
    by_kind = _by_kind(kinds0, kinds1, len(ok))
    # No login in the window (a machine too busy for its length): NaN, not a crash.
    median = statistics.median(ok) if ok else float("nan")
    return Side(name, len(ok), seconds, median, cpu, peak_pss, by_kind, _median_steps(steps))


def _median_steps(logins: list[dict[str, int]]) -> str:
    """Each step's median ms over the logins that took it (how many, when not all), in the
    order they take them, "outside steps" last: where the time of a login goes, side by side
    (the floor's steps are its calls, the probe's its journey's steps)."""
    names: list[str] = []
    for login in logins:
        names += [n for n in login if n not in names and n != OUTSIDE]
    parts = []
    for name in [*names, OUTSIDE]:
        took = [login[name] for login in logins if name in login]
        if took:
            some = f" ({len(took)} of {len(logins)})" if len(took) < len(logins) else ""
            parts.append(f"{name} {statistics.median(took):.0f}{some}")
    return ", ".join(parts)


# The rest of a login's time: the floor's context opened and closed; the probe's context opened
# and closed and its journey set up (its evidence is in no step's time, nor in this).
OUTSIDE = "outside steps"


# -- the floor: a bare Playwright login loop, run as its own process ---------------------------------
async def floor_login(
    browser: Browser,
    hub_url: str,
    username: str,
    password: str,
    steps: dict[str, int] | None = None,
) -> bool:
    """One login as a bare script does it: a fresh context, the sandbox's fixed selectors, no
    reading of the pages (benchmarks/probe_cost.py uses it too). It opens the URL the probe's
    config names (the hub's root), as the probe does: the hub's redirects to its sign-in page
    (`/` → `/hub/` → `/hub/home` → `/hub/login`) are part of the login on both sides. `steps`:
    filled with the ms each call took."""
    timed = steps if steps is not None else {}
    last = time.monotonic()

    def took(step: str) -> None:
        nonlocal last
        now = time.monotonic()
        timed[step] = timed.get(step, 0) + round((now - last) * 1000)
        last = now

    context = await browser.new_context()
    try:
        page = await context.new_page()
        took(OUTSIDE)
        await page.goto(hub_url, wait_until="domcontentloaded")  # as the journey opens it
        took("goto")
        await page.locator('a[href*="oauth_login"]').first.click()
        took("click sign-in")
        await page.fill("#user", username)
        took("fill username")
        await page.fill("#pw", password)
        await page.locator('button[type="submit"]').click()
        took("fill password, submit")
        await page.get_by_role("button", name="Allow").click()
        took("allow")
        await page.wait_for_url(re.compile(r"/(hub/home|hub/spawn|user/)"))
        took("landed")
        return True
    except Exception:
        return False
    finally:
        await context.close()
        took(OUTSIDE)


async def _bare_worker(hub_url: str, seconds: float, concurrency: int) -> None:
    """Logs in, `concurrency` at a time, for `seconds` (or until the file BENCH_STOP_FILE names
    exists, or the harness is gone); one JSON line per finished login."""
    from playwright.async_api import async_playwright

    from loginprobe.prober.browser import (
        QUIET_FLAGS,
        SYSTEM_CHROMIUMS,
        choose_executable,
        feature_switches,
    )

    username = os.environ["SANDBOX_USERNAME"]
    password = os.environ["SANDBOX_PASSWORD"]
    async with async_playwright() as pw:
        executable = choose_executable("", pw.chromium.executable_path, SYSTEM_CHROMIUMS)
        features, replaced = feature_switches()
        browser = await pw.chromium.launch(
            executable_path=executable,
            args=[*QUIET_FLAGS, *features, *([] if os.geteuid() else ["--no-sandbox"])],
            ignore_default_args=replaced,
            chromium_sandbox=os.geteuid() != 0,
        )
        end = time.monotonic() + seconds
        stop_file = os.environ.get("BENCH_STOP_FILE") or "/nonexistent"
        parent = os.getppid()  # a harness gone (killed, interrupted) leaves no worker behind

        async def one() -> None:
            t0, steps = time.monotonic(), dict[str, int]()
            ok = await floor_login(browser, hub_url, username, password, steps)
            line = {"ok": ok, "s": time.monotonic() - t0, "at": time.time(), "steps": steps}
            print(json.dumps(line), flush=True)

        async def lane() -> None:
            while (
                time.monotonic() < end
                and not os.access(stop_file, os.F_OK)
                and os.getppid() == parent
            ):
                await one()

        await asyncio.gather(*(lane() for _ in range(concurrency)))
        await browser.close()


def _bare(sb: Sandbox, args: argparse.Namespace, start: threading.Barrier | None = None) -> Side:
    """`start`: the window opens when both sides have warmed up (--together)."""
    workdir = Path(tempfile.mkdtemp())
    stop_file = workdir / "stop"  # the worker logs in until it exists, and nothing else ends it
    env = {**os.environ, **sb.probe_env(), "BENCH_STOP_FILE": str(stop_file)}
    env["BENCH_SECONDS"] = "inf"
    logins: list[dict[str, Any]] = []
    proc: subprocess.Popen[str] | None = None
    reader: threading.Thread | None = None
    try:
        proc = subprocess.Popen(
            [sys.executable, __file__, "--bare-worker", sb.hub_url],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        assert proc.stdout is not None
        stdout = proc.stdout
        reader = threading.Thread(
            target=lambda: logins.extend(map(json.loads, stdout)), daemon=True
        )
        reader.start()
        with Sampler(proc.pid) as sampler:
            _pause(args.warmup)
            if proc.poll() is not None:
                raise SystemExit(f"the floor's worker ended in its warm-up ({proc.returncode})")
            t0, kinds0, t1, kinds1 = _window(proc.pid, args.seconds, start)
            if proc.poll() is not None:
                raise SystemExit(f"the floor's worker ended during the window ({proc.returncode})")
    finally:
        stop_file.touch()
        if proc is not None:
            _reap(proc)
        if reader is not None:
            reader.join(10)
            if reader.is_alive():
                print("bare: the worker's last lines were not all read", file=sys.stderr)
        shutil.rmtree(workdir, ignore_errors=True)
    window = [x for x in logins if t0 <= x["at"] <= t1]
    failed = sum(1 for x in window if not x["ok"])
    if failed:
        print(f"bare: {failed} of {len(window)} logins failed", file=sys.stderr)
    ok = [x["s"] for x in window if x["ok"]]
    steps = [x["steps"] for x in window if x["ok"]]
    name = "bare Playwright (the floor)"
    return _measured(name, ok, t1 - t0, sampler.peak, kinds0, kinds1, steps)


# Set when the run is interrupted (Ctrl-C in --together): each side stops waiting and ends its
# processes while the sandbox is still up.
CANCEL = threading.Event()


def _pause(seconds: float) -> None:
    """Sleep, unless the run is interrupted meanwhile."""
    if CANCEL.wait(seconds):
        raise SystemExit("interrupted")


def _window(
    pid: int, seconds: float, start: threading.Barrier | None
) -> tuple[float, dict[str, float], float, dict[str, float]]:
    """One side's measured window, once the other side is ready too (`start`, --together): when
    it opened, the tree's CPU by kind then, when it closed, and the CPU by kind then."""
    if start is not None:
        start.wait()
    t0, kinds0 = time.time(), tree_cpu_by_kind(pid)
    _pause(seconds)
    return t0, kinds0, time.time(), tree_cpu_by_kind(pid)


def _reap(proc: subprocess.Popen[Any]) -> None:
    """Wait a minute for a side's process to end (its browser closed), then kill it."""
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# -- probe serve ------------------------------------------------------------------------------------
def _fleet_config(
    sb: Sandbox,
    workdir: Path,
    args: argparse.Namespace,
    port: int,
    state: str = "",
    extra: str = "",
) -> Path:
    artifacts = "" if args.no_evidence else str(workdir / "artifacts")
    state = state or _state_url(workdir)
    text = sb.config_text(
        hub="h00",
        monitor=(
            f'interval = "{args.interval}s"\nconcurrency = {args.concurrency}\n'
            f'state = "{state}"\nlisten = "127.0.0.1:{port}"\n'
            f'artifacts_dir = "{artifacts}"\n{extra}'
        ),
    )
    head, hub = text.split("[hubs.h00]", 1)
    if args.no_stand_in:
        hub = "\npassword_stand_in = false" + hub
    if args.flow:
        hub = re.sub(r'(?m)^flow = ".*"$', f'flow = "{Path(args.flow).resolve()}"', hub, count=1)
    hubs = "".join(
        f"[hubs.{name}]" + hub.replace("[hubs.h00.", f"[hubs.{name}.")
        for name in _hub_names(args.hubs)
    )
    path = workdir / "config.toml"
    path.write_text(head + hubs)
    return path


def _serve(sb: Sandbox, args: argparse.Namespace, start: threading.Barrier | None = None) -> Side:
    """`start`: the window opens when both sides have warmed up (--together)."""
    with tempfile.TemporaryDirectory() as tmp:
        workdir, port = Path(tmp), free_port()
        config = _fleet_config(sb, workdir, args, port)
        stderr = (workdir / "stderr.log").open("w+")
        probe = Path(sys.executable).with_name("probe")
        profile = ["-c", CPU_PROFILE, args.profile] if args.profile else []
        proc = subprocess.Popen(
            [sys.executable, *profile, str(probe), "--config", str(config), "serve"],
            env={**os.environ, **sb.probe_env(), "HOME": tmp},
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            deadline = time.monotonic() + 60
            while not _healthy(port):
                if proc.poll() is not None or time.monotonic() > deadline:
                    stderr.seek(0)
                    raise SystemExit(f"probe serve did not start:\n{stderr.read()[-3000:]}")
                _pause(0.2)
            with Sampler(proc.pid) as sampler:
                _pause(args.warmup)
                # Each hub's first probe records a trace (~0.4 CPU-s more): all of them before
                # the window, however slowly this machine runs today.
                first = 120 + 10 * args.hubs / max(1, args.concurrency)

                def first_probes_done() -> bool:
                    if proc.poll() is not None:
                        stderr.seek(0)
                        raise SystemExit(f"probe serve ended:\n{stderr.read()[-3000:]}")
                    return len(_probed_hubs(workdir / "stderr.log")) >= args.hubs

                _wait_for("every hub's first probe", first_probes_done, first)
                t0, kinds0, t1, kinds1 = _window(proc.pid, args.seconds, start)
                if proc.poll() is not None:
                    stderr.seek(0)
                    raise SystemExit(f"probe serve ended in the window:\n{stderr.read()[-3000:]}")
        finally:
            proc.terminate()
            _reap(proc)
        stderr.seek(0)
        probes = []
        for line in stderr:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("event") == "probe":
                probes.append(event)
        steps = _stored_steps(_state_url(workdir), args.hubs, t0, t1)
    window = [p for p in probes if t0 <= _epoch(p["timestamp"]) <= t1]
    codes: dict[str, int] = {}
    for p in window:
        codes[p["verdict"]] = codes.get(p["verdict"], 0) + 1
    if set(codes) - {"ok"}:
        print(f"serve: verdicts in the window: {codes}", file=sys.stderr)
    ok = [p["ms"] / 1000 for p in window if p["verdict"] == "ok"]
    name = "`probe serve`" + (", evidence off" if args.no_evidence else "")
    name += ", no stand-in" if args.no_stand_in else ""
    return _measured(name, ok, t1 - t0, sampler.peak, kinds0, kinds1, steps)


def _hub_names(hubs: int) -> list[str]:
    """The fleet's hub entries, as `_fleet_config` writes them."""
    return [f"h{i:02d}" for i in range(hubs)]


def _state_url(workdir: Path) -> str:
    return f"sqlite:///{workdir / 'state.sqlite'}"


def _stored_steps(state: str, hubs: int, t0: float, t1: float) -> list[dict[str, int]]:
    """The ms of each step of the healthy probes that ended in the window (by their start, to
    the second, and their duration: within a second of the log lines the round counts), from
    the monitor's store as `probe history` reads it. None, said, if the store cannot be read:
    the round's figures stand without them."""
    from loginprobe.store import Store

    try:
        store = Store(state)
    except Exception as err:
        print(f"serve: its steps cannot be read from its store: {err}", file=sys.stderr)
        return []
    try:
        logins = []
        for hub in _hub_names(hubs):
            for probe in store.history(hub, limit=10_000):
                ended = _epoch(probe["started_at"]) + probe["duration_ms"] / 1000
                if probe["code"] != "ok" or not t0 <= ended <= t1:
                    continue
                steps: dict[str, int] = {}
                for step in probe["steps"]:  # a step taken twice: its times added
                    steps[step["name"]] = steps.get(step["name"], 0) + int(step["ms"])
                steps[OUTSIDE] = probe["duration_ms"] - sum(steps.values())
                logins.append(steps)
        return logins
    finally:
        store.close()


# -- replicas on one PostgreSQL ----------------------------------------------------------------------
@dataclass
class Replica:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    def health(self) -> dict[str, object]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as r:
                body: dict[str, object] = json.loads(r.read())
                return body
        except urllib.error.HTTPError as err:
            answer: dict[str, object] = json.loads(err.read())
            return answer
        except (OSError, ValueError):
            return {}

    def hubs(self) -> set[str]:
        replica = self.health().get("replica")
        return set(replica.get("hubs") or []) if isinstance(replica, dict) else set()

    def probes(self) -> list[dict[str, object]]:
        return self.events("probe")

    def events(self, name: str) -> list[dict[str, object]]:
        found = []
        for line in self.log.read_text(errors="replace").splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("event") == name:
                found.append(event)
        return found


def _start_replicas(
    sb: Sandbox, args: argparse.Namespace, workdir: Path, state: str, n: int
) -> list[Replica]:
    probe = Path(sys.executable).with_name("probe")
    made = []
    for i in range(n):
        name, port = f"r{i + 1}", free_port()
        home = workdir / name
        home.mkdir()
        extra = f'lease_ttl = "{args.lease_ttl}s"\nreplica = "{name}"'
        config = _fleet_config(sb, home, args, port, state=state, extra=extra)
        log = home / "stderr.log"
        # One stats file per replica: FILE.r1, FILE.r2, ...
        profile = ["-c", CPU_PROFILE, f"{args.profile}.{name}"] if args.profile else []
        proc = subprocess.Popen(
            [sys.executable, *profile, str(probe), "--config", str(config), "serve"],
            env={**os.environ, **sb.probe_env(), "HOME": str(home)},
            stdout=subprocess.DEVNULL,
            stderr=log.open("wb"),
        )
        made.append(Replica(name, port, proc, log))
    return made


def _wait_for(what: str, condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"{what}: not within {timeout:g}s")
        _pause(0.2)  # polling the condition


def _spread_out(replicas: list[Replica], hubs: int) -> bool:
    held = [r.hubs() for r in replicas]
    sizes = [len(h) for h in held]
    return sum(sizes) == hubs and len(set().union(*held)) == hubs and max(sizes) - min(sizes) <= 1


def _replicas_run(
    sb: Sandbox, args: argparse.Namespace, state: str, n: int
) -> tuple[float, float | None]:
    """Logins per minute of `n` replicas sharing the hubs; with more than one, the failover time
    (SIGKILL the replica holding the most hubs: seconds until the others have started a probe of
    each of its hubs)."""
    with tempfile.TemporaryDirectory() as tmp:
        replicas = _start_replicas(sb, args, Path(tmp), state, n)
        try:
            _wait_for("the replicas answering", lambda: all(r.health() for r in replicas), 120)
            _wait_for(
                "the hubs spread over the replicas",
                lambda: _spread_out(replicas, args.hubs),
                120 + 2 * args.lease_ttl,
            )
            time.sleep(args.warmup)  # the measured window starts after the warm-up
            t0 = time.time()
            time.sleep(args.seconds)
            t1 = time.time()
            ok = [
                p
                for r in replicas
                for p in r.probes()
                if p["verdict"] == "ok" and t0 <= _epoch(str(p["timestamp"])) <= t1
            ]
            per_min = len(ok) * 60 / (t1 - t0)
            print(f"{n} replica(s): {per_min:.0f} logins/min ({len(ok)} in {t1 - t0:.0f} s)")
            if n == 1:
                return per_min, None
            victim = max(replicas, key=lambda r: len(r.hubs()))
            orphans = victim.hubs()
            victim.proc.kill()
            killed = time.time()
            others = [r for r in replicas if r is not victim]

            def started() -> dict[str, float]:
                """Orphan -> when the first probe of it by another replica started."""
                first: dict[str, float] = {}
                for r in others:
                    for p in r.probes():
                        hub = str(p["hub"])
                        begun = _epoch(str(p["timestamp"])) - float(str(p["ms"])) / 1000
                        if hub in orphans and begun > killed:
                            first[hub] = min(first.get(hub, begun), begun)
                return first

            _wait_for(
                "the killed replica's hubs probed by the others",
                lambda: set(started()) == orphans,
                4 * args.lease_ttl + 3 * args.interval + 120,
            )
            failover = max(started().values()) - killed
            # When the leases passed, apart from when a probe slot came free for the hubs.
            # (A replica that stood by says "monitor active" instead: no figure then.)
            taken = max(
                (
                    _epoch(str(e["timestamp"]))
                    for r in others
                    for e in r.events("took over hubs")
                    if _epoch(str(e["timestamp"])) > killed and orphans & set(e["hubs"])  # type: ignore[call-overload]
                ),
                default=float("nan"),
            )
            print(
                f"failover: {len(orphans)} hub(s) of the killed replica probed by the others "
                f"{failover:.1f} s after SIGKILL, their leases taken after {taken - killed:.1f} s "
                f"(lease_ttl {args.lease_ttl:g} s, interval {args.interval} s)"
            )
            return per_min, failover
        finally:
            for r in replicas:
                if r.proc.poll() is None:
                    r.proc.terminate()
            for r in replicas:
                try:
                    r.proc.wait(60)
                except subprocess.TimeoutExpired:
                    r.proc.kill()


def _replicas(sb: Sandbox, args: argparse.Namespace) -> None:
    from tests.postgres import start_server

    server = start_server()
    try:
        load0 = os.getloadavg()
        one, _ = _replicas_run(sb, args, server.fresh_database(), 1)
        many, failover = _replicas_run(sb, args, server.fresh_database(), args.replicas)
        load1 = os.getloadavg()
    finally:
        server.stop()
    print()
    print(f"| replicas | logins/min ({args.hubs} hubs, interval {args.interval} s) |")
    print("|---|---|")
    print(f"| 1 | {one:.0f} |")
    print(f"| {args.replicas} | {many:.0f} |")
    print(
        f"\n{args.replicas} replicas: {many / max(one, 1e-9):.2f}x one replica; failover "
        f"{failover:.1f} s; load average {load0[0]:.1f} before, {load1[0]:.1f} after "
        f"({os.cpu_count()} CPUs)"
    )


def _rounds(sb: Sandbox, args: argparse.Namespace) -> None:
    """Both sides `args.rounds` times (bare first in odd rounds, serve first in even ones, so a
    drift of the machine weighs on both; or both at once with --together), each round's ratios,
    their medians, the rounds within each target and (in turn) the CPU ratio by order."""
    speed: list[float] = []
    cpu: list[float] = []
    serve_first: list[bool] = []  # in turn: whether serve went first in the round of each ratio
    for i in range(args.rounds):
        if args.together:
            bare, serve = _together(sb, args)
        else:
            order = (_bare, _serve) if i % 2 == 0 else (_serve, _bare)
            done = {run: run(sb, args) for run in order}
            bare, serve = done[_bare], done[_serve]
        # A side with no login in its window (a short window on a busy machine) gives no ratio:
        # never one that divides by nothing and passes.
        ratios = "no ratio: a side logged in not once"
        if bare.logins and serve.logins:
            speed.append(serve.per_min / bare.per_min)
            cpu.append(serve.cpu_per_login / bare.cpu_per_login)
            serve_first.append(not args.together and i % 2 == 1)
            ratios = f"{speed[-1]:.2f}x throughput, {cpu[-1]:.2f}x CPU"
        load = os.getloadavg()[0]
        print(
            f"round {i + 1}: floor {bare.per_min:.0f}/min {bare.median_s:.1f} s "
            f"{bare.cpu_per_login:.2f} CPU-s, serve {serve.per_min:.0f}/min {serve.median_s:.1f} s "
            f"{serve.cpu_per_login:.2f} CPU-s: {ratios} (load {load:.1f})",
            flush=True,
        )
        print(f"  {bare.name}: {bare.by_kind}\n  {serve.name}: {serve.by_kind}", flush=True)
        print(f"  steps, median ms: the floor: {bare.steps}\n    serve: {serve.steps}", flush=True)
    if not speed:
        print(f"\nnone of {args.rounds} rounds had logins on both sides: no ratio")
        return
    counted = f"{len(speed)} of {args.rounds}" if len(speed) < args.rounds else str(args.rounds)
    # Together, the kernel shares the CPUs by thread, not by side: the throughput ratio says
    # less than the CPU ratio there.
    target = "together: read the CPU ratio" if args.together else "target >= 0.95"
    print(
        f"\nmedian of {counted} rounds: throughput {statistics.median(speed):.2f}x the floor "
        f"({min(speed):.2f}-{max(speed):.2f}; {target}), CPU per login "
        f"{statistics.median(cpu):.2f}x ({min(cpu):.2f}-{max(cpu):.2f}; target <= 1.05)"
    )
    # How many rounds alone meet each target (as their ratios are printed, to two places): a
    # median just inside a target, with the rounds split either side, is not yet a target met.
    within_cpu = sum(round(r, 2) <= 1.05 for r in cpu)
    within_speed = "n/a together" if args.together else f"{sum(round(r, 2) >= 0.95 for r in speed)}"
    print(
        f"rounds within target: throughput {within_speed} of {len(speed)}, "
        f"CPU {within_cpu} of {len(cpu)}"
    )
    if any(serve_first) and not all(serve_first):
        # In turn, the side that goes second meets the machine as it has drifted through the
        # round. A drift that costs the second side the same share whichever it is cancels in the
        # geometric mean of all rounds when as many went each way (an even --rounds).
        by_order = {
            first: [c for c, f in zip(cpu, serve_first, strict=True) if f == first]
            for first in (False, True)
        }
        print(
            f"CPU ratio by order, median: floor first {statistics.median(by_order[False]):.2f}x "
            f"({len(by_order[False])} rounds), serve first "
            f"{statistics.median(by_order[True]):.2f}x ({len(by_order[True])}); geometric mean "
            f"of all {len(cpu)}: {statistics.geometric_mean(cpu):.2f}x"
        )


def _together(sb: Sandbox, args: argparse.Namespace) -> tuple[Side, Side]:
    """Both sides at once, measured over the same window: the machine's drift from one minute
    to the next (on a shared host, up to 20% in both directions) weighs on both alike. Each has
    its own concurrency, so twice as many logins are in flight as in one side alone. Serve's way
    to the window is bounded by its own waits and the floor's by serve's; a side that fails
    breaks the barrier for the other, and Ctrl-C stops both before the sandbox goes."""
    start = threading.Barrier(2)
    sides: dict[str, Side] = {}
    errors: list[BaseException] = []

    def run(name: str, side: Callable[..., Side]) -> None:
        try:
            sides[name] = side(sb, args, start)
        except BaseException as err:  # the other side must not wait for this one for ever
            if not isinstance(err, threading.BrokenBarrierError):  # the other side's cause
                errors.append(err)
            start.abort()

    threads = [
        threading.Thread(target=run, args=("bare", _bare)),
        threading.Thread(target=run, args=("serve", _serve)),
    ]
    for t in threads:
        t.start()
    try:
        for t in threads:
            t.join()
    except BaseException:  # Ctrl-C: each side ends its processes while the sandbox is up
        CANCEL.set()
        start.abort()
        for t in threads:
            t.join()
        raise
    for err in errors[1:]:
        print(f"also: {type(err).__name__}: {err}", file=sys.stderr)
    if errors:
        raise errors[0]
    if len(sides) < 2:
        raise SystemExit("a side stopped without saying why")
    return sides["bare"], sides["serve"]


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def _probed_hubs(log: Path) -> set[str]:
    """The hubs `probe serve` has logged a probe of so far."""
    hubs = set()
    for line in log.read_text(errors="replace").splitlines():
        if '"event": "probe"' in line:
            with contextlib.suppress(ValueError, KeyError):
                hubs.add(json.loads(line)["hub"])
    return hubs


def _epoch(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--bare-worker":
        seconds = float(os.environ["BENCH_SECONDS"])
        asyncio.run(_bare_worker(sys.argv[2], seconds, int(os.environ.get("BENCH_LANES", "4"))))
        return 0
    parser = argparse.ArgumentParser()
    parser.add_argument("--hubs", type=int, default=24)
    parser.add_argument("--interval", type=int, default=10, help="seconds between a hub's probes")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--warmup", type=float, default=25.0)
    parser.add_argument("--seconds", type=float, default=90.0)
    parser.add_argument("--no-evidence", action="store_true", help='artifacts_dir = ""')
    parser.add_argument(
        "--no-stand-in",
        action="store_true",
        help="password_stand_in = false: no request interception (to measure what it costs)",
    )
    parser.add_argument(
        "--flow",
        default="",
        help="FILE: the serve side's hubs log in with this flow file instead of the sandbox's "
        "(benchmarks/flows/sandbox_fixed.py: the floor's clicks, to split the flow's cost from "
        "the rest of the monitor's)",
    )
    parser.add_argument(
        "--profile",
        default="",
        help="FILE: `probe serve` runs under cProfile (CPU time), its stats to FILE (FILE.rN per "
        "replica)",
    )
    parser.add_argument("--side", choices=("both", "bare", "serve"), default="both")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="N > 1: both sides N times, alternating which goes first (or at once, --together), "
        "and the median of the "
        "N paired ratios (a busy or noisy machine moves one run by 10-15%%)",
    )
    parser.add_argument(
        "--together",
        action="store_true",
        help="with --rounds: both sides at once in each round, measured over the same window "
        "(instead of one after the other)",
    )
    parser.add_argument(
        "--replicas",
        type=int,
        default=0,
        help="N > 0: `probe serve` on one PostgreSQL, 1 replica then N sharing the hubs, and the "
        "failover time (instead of the floor comparison)",
    )
    parser.add_argument(
        "--lease-ttl", type=float, default=30.0, help="the replicas' lease_ttl in seconds"
    )
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.rounds > 1 and (args.side != "both" or args.profile or args.replicas):
        parser.error("--rounds compares both sides: not with --side, --profile or --replicas")
    if args.together and args.rounds < 2:
        parser.error("--together goes with --rounds N (N >= 2)")
    os.environ["BENCH_LANES"] = str(args.concurrency)
    if args.replicas:
        with Sandbox() as sb:
            _replicas(sb, args)
        return 0
    if args.rounds > 1:
        with Sandbox() as sb:
            _rounds(sb, args)
        return 0
    sides: list[Side] = []
    with Sandbox() as sb:
        if args.side in ("both", "bare"):
            sides.append(_bare(sb, args))
            print(sides[-1].row(), flush=True)
        if args.side in ("both", "serve"):
            sides.append(_serve(sb, args))
            print(sides[-1].row(), flush=True)
    print()
    print("| | logins/min | median login | CPU per login | peak PSS |")
    print("|---|---|---|---|---|")
    for side in sides:
        print(side.row())
    print("\nCPU-seconds per login by process:")
    for side in sides:
        print(f"- {side.name}: {side.by_kind}")
    print("\nEach step's median ms:")
    for side in sides:
        print(f"- {side.name}: {side.steps}")
    if len(sides) == 2 and not all(side.logins for side in sides):
        print("\nno ratio: a side logged in not once in its window")
    elif len(sides) == 2:
        floor, serve = sides
        print(
            f"\nthroughput {serve.per_min / floor.per_min:.2f}x the floor (target >= 0.95), "
            f"CPU per login {serve.cpu_per_login / floor.cpu_per_login:.2f}x (target <= 1.05)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
