"""Benchmark: what one login costs, side by side with the floor, one at a time, in one browser.

`benchmarks/throughput.py` measures `probe serve` against the floor at a concurrency, in separate
processes: on a busy machine one run moves 10-15% from the next. This one takes the noise of
concurrency and of separate browsers out, to tell apart changes of a few hundredths of a CPU-second:
one process, one Chromium launched as the product launches it, one login at a time, the sides in
turn (floor, probe, variants, floor, probe, ...), each login's CPU-seconds measured over the
process tree (this Python, Playwright's driver, every Chromium process; not the sandbox's hub, IdP
and proxy, which it starts too) with half a second of quiet before and after.

Sides:
- `floor`: the bare Playwright login of `benchmarks/throughput.py` (`floor_login`: fixed selectors,
  no reading);
- `probe`: `probe_hub` as `probe serve` calls it for a healthy hub (evidence on, no trace and so
  no password stand-in, the monitor's recent secret check standing for the probe's own);
- `fixed-flow`: the same with the floor's clicks as the hub's flow
  (`benchmarks/flows/sandbox_fixed.py`) instead of the generic flow's reading;
- `own-secret-check`: the same with no recent secret check (as `probe run` does: one POST each);
- `traced`: a probe that records a trace (a hub's first probe in `probe serve`, a retry that
  confirms a failure, every `probe run`), and so types the password stand-in, whose
  interception is on from the hub's sign-in click; the trace is discarded, as for a success;
- `no-stand-in`: `traced` with `password_stand_in = false`;
- `armed-first`: `traced` with the stand-in's interception on before the hub's URL is opened (as
  `probe run` has it, and `probe serve` for a hub that sends the browser straight to the IdP).

    .venv/bin/python benchmarks/probe_cost.py [--logins 15] [--warmup 2]
        [--sides floor,probe,no-stand-in,fixed-flow,own-secret-check,armed-first]

Prints each side's mean and median CPU-seconds and median wall time per login, and the difference
of each side's mean from the floor's.

With `--concurrency N` (N > 1) it measures in phases instead: each side in turn runs N logins at a
time for `--seconds`, `--rounds` times (the order of the sides reversed every other round, after a
warm-up phase each); it prints each phase's logins per minute and CPU-seconds per login, then
each side's medians and their ratios to the floor's. Costs that grow with a login's wall time
(and the share of four probes on two cores) show there, not one login at a time:

    .venv/bin/python benchmarks/probe_cost.py --concurrency 4 --seconds 30 --rounds 4
        --sides floor,probe,traced

With `--messages` it also counts the messages between this Python and Playwright's driver: per
login and side (in the measured phases, with `--concurrency`), by direction and by the object's type and method (a call
out, its reply, an event in, an object created). Python's share of a login's CPU follows that
count (each message is parsed, validated and turned into objects), so this says where it goes:

    .venv/bin/python benchmarks/probe_cost.py --logins 5 --sides floor,probe --messages
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from throughput import floor_login, tree_cpu_by_kind  # the floor's login, CPU by process

from loginprobe.config.loading import load
from loginprobe.config.secrets import resolve_secrets
from loginprobe.model import SecretCheck
from loginprobe.monitor.capacity import process_tree_cpu_each
from loginprobe.prober.browser import open_browser
from loginprobe.prober.evidence import plan_for
from loginprobe.prober.hub_probe import probe_hub
from loginprobe.redact import Redactor
from sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[1]
SIDES = ("floor", "probe", "fixed-flow", "own-secret-check", "traced", "no-stand-in", "armed-first")
TRACED = ("traced", "no-stand-in", "armed-first")
QUIET_S = 0.5
RENDERERS = "chromium renderers (and zygote)"
_RENDERER_KINDS = {"chromium renderer", "chromium zygote", "gone", "zombie"}
RECENT = SecretCheck("valid", detail="the monitor's own check, a minute ago")


@contextmanager
def counting_messages() -> Iterator[Counter[str]]:
    """Count every message between this Python and Playwright's driver while the block runs, by
    direction, object type and method (Playwright's private connection: a benchmark's view)."""
    from playwright._impl.connection import Connection

    seen: Counter[str] = Counter()
    dispatch, send = Connection.dispatch, Connection.send_message_to_server

    def counted_dispatch(self: Any, message: dict[str, Any]) -> None:
        if message.get("id"):
            callback = self._callbacks.get(message["id"])
            seen[f"reply {callback.type}.{callback.method}" if callback else "reply ?"] += 1
        elif message.get("method") == "__create__":
            seen[f"create {message['params']['type']}"] += 1
        else:
            owner = self._objects.get(message.get("guid") or "")
            kind = owner._type if owner is not None else "?"
            seen[f"event {kind}.{message.get('method')}"] += 1
        dispatch(self, message)

    def counted_send(self: Any, obj: Any, method: str, params: Any, options: Any) -> Any:
        seen[f"call {obj._type}.{method}"] += 1
        return send(self, obj, method, params, options)

    Connection.dispatch = counted_dispatch  # type: ignore[method-assign]
    Connection.send_message_to_server = counted_send  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        Connection.dispatch = dispatch  # type: ignore[method-assign]
        Connection.send_message_to_server = send  # type: ignore[method-assign]


def print_messages(
    sides: list[str], counts: dict[str, Counter[str]], logins: int | Counter[str]
) -> None:
    """Each side's messages a login (`logins`: of every side, or each side's), by kind."""
    print("\nmessages with Playwright's driver, a login:")
    for side in sides:
        n = max(1, logins if isinstance(logins, int) else logins[side])
        print(f"- {side}: {sum(counts[side].values()) / n:.1f} (mean of {n} logins)")
        for key, count in counts[side].most_common():
            if count / n >= 0.5:
                print(f"    {count / n:6.1f}  {key}")


def tree_cpu(leave_out: set[int]) -> float:
    """CPU-seconds of this process's tree, without the subtrees rooted at `leave_out` (the
    sandbox's hub, IdP and proxy, which this process started too)."""
    mine = sum(process_tree_cpu_each(os.getpid()).values())
    return mine - sum(sum(process_tree_cpu_each(pid).values()) for pid in leave_out)


def configs(sb: Sandbox, tmp: Path) -> dict[str, tuple[object, object]]:
    """Each side's loaded config and secrets (one hub, "h")."""
    monitor = f'artifacts_dir = "{tmp / "artifacts"}"\n'
    base = sb.config_text(hub="h", monitor=monitor)
    fixed = f'flow = "{ROOT / "benchmarks" / "flows" / "sandbox_fixed.py"}"'
    texts = {
        "probe": base,
        "own-secret-check": base,
        "traced": base,
        "armed-first": base,
        "no-stand-in": base.replace("[hubs.h]\n", "[hubs.h]\npassword_stand_in = false\n", 1),
        "fixed-flow": re.sub(r'(?m)^flow = ".*"$', fixed, base, count=1),
    }
    for side, text in texts.items():
        if side not in ("probe", "own-secret-check", "traced", "armed-first") and text == base:
            raise SystemExit(f"the sandbox's config no longer has what the {side} side changes")
    out = {}
    for side, text in texts.items():
        path = tmp / f"{side}.toml"
        path.write_text(text)
        loaded = load(path)
        out[side] = (loaded, resolve_secrets(loaded, ["h"]))
    return out


async def run(args: argparse.Namespace) -> None:
    from playwright.async_api import async_playwright

    sides = [s for s in args.sides.split(",") if s]
    unknown = set(sides) - set(SIDES)
    if unknown:
        raise SystemExit(f"unknown side(s): {', '.join(sorted(unknown))}; known: {SIDES}")
    with Sandbox() as sb, tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        os.environ.update(sb.probe_env())
        username, password = os.environ["SANDBOX_USERNAME"], os.environ["SANDBOX_PASSWORD"]
        loaded_sides = configs(sb, tmp)
        sandbox = set(sb.pids())  # its hub, IdP and proxy: started by this process too
        seen: dict[str, list[tuple[float, float]]] = {s: [] for s in sides}
        failed: dict[str, int] = {s: 0 for s in sides}
        messages: dict[str, Counter[str]] = {s: Counter() for s in sides}
        by_kind: dict[str, Counter[str]] = {s: Counter() for s in sides}
        async with async_playwright() as pw, open_browser(pw, "", tmp / "traces") as browser:

            async def login(side: str) -> bool:
                if side == "floor":
                    return await floor_login(browser, sb.hub_url, username, password)
                loaded, secrets = loaded_sides[side]
                config = loaded.config  # type: ignore[attr-defined]
                m = config.monitor
                trace = side in TRACED
                plan = plan_for(
                    m.artifacts_dir, m.artifacts_keep, m.artifacts_max_age, tmp / "traces", trace
                )
                result = await probe_hub(
                    browser,
                    "h",
                    config.hubs["h"],
                    secrets["h"],  # type: ignore[index]
                    timeout=config.hub_timeout("h"),
                    redactor=Redactor(secrets["h"].values()),  # type: ignore[index]
                    evidence=plan,
                    recent_secret_check=None if side == "own-secret-check" else RECENT,
                    # As `probe serve` has it for a hub with a sign-in page of its own: the
                    # stand-in's interception on as the browser leaves it.
                    straight_to_idp=side == "armed-first",
                )
                return result.verdict.ok

            if args.concurrency > 1:
                await _phases(args, sides, login, sandbox)
                return
            for side in sides:
                for _ in range(args.warmup):
                    await login(side)
            for _ in range(args.logins):
                for side in sides:
                    await asyncio.sleep(QUIET_S)
                    kinds0, t0 = tree_cpu_by_kind(os.getpid(), sandbox), time.monotonic()
                    if args.messages:
                        with counting_messages() as counted:
                            ok = await login(side)
                        messages[side] += counted
                    else:
                        ok = await login(side)
                    wall = time.monotonic() - t0
                    await asyncio.sleep(QUIET_S)
                    if ok:
                        kinds1 = tree_cpu_by_kind(os.getpid(), sandbox)
                        seen[side].append((sum(kinds1.values()) - sum(kinds0.values()), wall))
                        for kind in kinds1.keys() | kinds0.keys():
                            # A renderer's CPU moves to the zygote's count as it ends: one
                            # figure for both, or either may go below zero.
                            name = RENDERERS if kind in _RENDERER_KINDS else kind
                            by_kind[side][name] += kinds1.get(kind, 0) - kinds0.get(kind, 0)
                    else:
                        failed[side] += 1
    floor = statistics.mean(c for c, _ in seen["floor"]) if seen.get("floor") else None
    print(f"{args.logins} logins a side, one at a time, in turn; CPU-s of the tree, sandbox aside")
    print("| side | mean CPU-s | median CPU-s | median wall | vs the floor | failed |")
    print("|---|---|---|---|---|---|")
    for side in sides:
        xs = seen[side]
        if not xs:
            print(f"| {side} | - | - | - | - | {failed[side]} |")
            continue
        mean = statistics.mean(c for c, _ in xs)
        median = statistics.median(c for c, _ in xs)
        wall = statistics.median(w for _, w in xs)
        versus = f"{mean - floor:+.3f} ({mean / floor:.2f}x)" if floor else "-"
        print(f"| {side} | {mean:.3f} | {median:.3f} | {wall:.2f} s | {versus} | {failed[side]} |")
    print("\nmean CPU-s a login by process:")
    for side in sides:
        n = max(1, len(seen[side]))
        parts = sorted(by_kind[side].items(), key=lambda kv: -kv[1])
        print(f"- {side}: " + ", ".join(f"{k} {v / n:.3f}" for k, v in parts if abs(v) >= 0.001))
    if args.messages:
        print_messages(sides, messages, args.logins)


async def _phases(
    args: argparse.Namespace,
    sides: list[str],
    login: Callable[[str], Awaitable[bool]],
    sandbox: set[int],
) -> None:
    """Each side `args.concurrency` logins at a time for `args.seconds`, in turn, `args.rounds`
    times; CPU-seconds of the tree (sandbox aside) per login that succeeded."""

    messages: dict[str, Counter[str]] = {s: Counter() for s in sides}
    logins: Counter[str] = Counter()

    async def phase(
        side: str, seconds: float, measured: bool = True
    ) -> tuple[int, int, float, float]:
        end = time.monotonic() + seconds
        done = [0, 0]

        async def lane() -> None:
            while time.monotonic() < end:
                done[0 if await login(side) else 1] += 1

        await asyncio.sleep(QUIET_S)
        cpu0, t0 = tree_cpu(sandbox), time.monotonic()
        with counting_messages() if args.messages else contextlib.nullcontext() as counted:
            await asyncio.gather(*(lane() for _ in range(args.concurrency)))
        wall = time.monotonic() - t0
        if counted is not None and measured:
            messages[side] += counted
            logins[side] += done[0] + done[1]
        return done[0], done[1], tree_cpu(sandbox) - cpu0, wall

    for side in sides:
        await phase(side, min(args.seconds, 10.0), measured=False)  # warm-up
    seen: dict[str, list[tuple[float, float]]] = {s: [] for s in sides}
    print(f"{args.concurrency} logins at a time, {args.seconds:g} s a phase, CPU-s of the tree")
    for r in range(args.rounds):
        for side in sides if r % 2 == 0 else sides[::-1]:
            ok, failed, cpu, wall = await phase(side, args.seconds)
            per_min, per_login = ok * 60 / wall, cpu / max(1, ok)
            print(f"round {r + 1}: {side} {per_min:.1f}/min, {per_login:.3f} CPU-s a login, "
                  f"{failed} failed", flush=True)  # fmt: skip
            if ok:
                seen[side].append((per_login, per_min))
    print("| side | median CPU-s a login | median logins/min | vs the floor (CPU, throughput) |")
    print("|---|---|---|---|")
    floor = seen.get("floor") or []
    for side in sides:
        if not seen[side]:
            print(f"| {side} | - | - | - |")
            continue
        cpu = statistics.median(c for c, _ in seen[side])
        rate = statistics.median(m for _, m in seen[side])
        versus = "-"
        if floor:
            f_cpu = statistics.median(c for c, _ in floor)
            f_rate = statistics.median(m for _, m in floor)
            versus = f"{cpu / f_cpu:.2f}x, {rate / f_rate:.2f}x"
        print(f"| {side} | {cpu:.3f} | {rate:.1f} | {versus} |")
    if args.messages:
        print_messages(sides, messages, logins)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=15, help="measured logins per side")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured logins per side first")
    parser.add_argument("--sides", default=",".join(SIDES), help=f"some of {','.join(SIDES)}")
    parser.add_argument("--concurrency", type=int, default=1, help="logins at a time (phases)")
    parser.add_argument("--seconds", type=float, default=30.0, help="a phase's length")
    parser.add_argument("--rounds", type=int, default=4, help="phases a side")
    parser.add_argument(
        "--messages", action="store_true", help="count the driver's messages a login, by method"
    )
    args = parser.parse_args()
    if args.logins < 1 or args.warmup < 0:
        parser.error("--logins must be at least 1 and --warmup not negative")
    if args.concurrency < 1 or args.seconds <= 0 or args.rounds < 1:
        parser.error("--concurrency and --rounds must be at least 1, --seconds more than 0")
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
