"""What a probe costs here, and whether this machine keeps up with the fleet.

The monitor measures each probe's time in the browser and, every minute, the CPU its whole
process tree (Python, Playwright's driver, Chromium and its helpers) spent per probe. From those it
says what the machine sustains — the lesser of what the CPUs and the `concurrency` browser slots
allow — beside what the config asks for, at start, on reload, on the status page and in
`probe check`. Before the first measurements it uses loginprobe's own benchmark figures.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

from loginprobe import config as cfg

# Before anything is measured: a healthy probe on the 2-core benchmark machine (README numbers).
DEFAULT_WALL_S = 5.0
DEFAULT_CPU_S = 2.5
SMOOTHING = 0.2  # weight of a new sample in the running averages
COSTS_KEY = "probe_costs"  # in the store's meta: what a probe costs here, for `probe check`


def needed_per_min(config: cfg.Config, hubs: Collection[str] | None = None) -> float:
    """Probes a minute the config asks for (of `hubs` only, if given): each hub once per its
    interval."""
    return sum(
        60.0 / (h.interval or config.monitor.interval)
        for name, h in config.hubs.items()
        if hubs is None or name in hubs
    )


@dataclass(frozen=True)
class Capacity:
    hubs: int
    needed_per_min: float
    sustained_per_min: float
    wall_s: float  # a probe's time in the browser
    cpu_s: float  # CPU-seconds of the process tree per probe
    cpus: int
    concurrency: int
    measured: bool
    fleet: int = 0  # replicas share the hubs: how many the fleet has (`hubs` is this one's share)

    @property
    def enough(self) -> bool:
        return self.sustained_per_min >= self.needed_per_min

    def line(self) -> str:
        basis = (
            "measured here" if self.measured else "loginprobe's benchmark figures, until measured"
        )
        whose = (
            f"this replica's {self.hubs} of {self.fleet} hubs"
            if self.fleet
            else (f"{self.hubs} hub(s)")
        )
        text = (
            f"{whose} need {self.needed_per_min:.0f} probes/min; this machine sustains "
            f"about {self.sustained_per_min:.0f} ({basis}: {self.wall_s:.1f} s and "
            f"{self.cpu_s:.1f} CPU-s per probe, {self.cpus} CPU(s), concurrency {self.concurrency})"
        )
        if self.enough:
            return text
        return text + (
            " — not enough: probes will start late. Lengthen [monitor] interval, give it more "
            "CPU (and concurrency), or split the hubs across more replicas"
        )

    def to_json(self) -> dict[str, object]:
        return {
            "hubs": self.hubs,
            "fleet_hubs": self.fleet or self.hubs,
            "needed_per_min": round(self.needed_per_min, 1),
            "sustained_per_min": round(self.sustained_per_min, 1),
            "wall_s_per_probe": round(self.wall_s, 2),
            "cpu_s_per_probe": round(self.cpu_s, 2),
            "cpus": self.cpus,
            "concurrency": self.concurrency,
            "measured": self.measured,
            "enough": self.enough,
            "summary": self.line(),
        }


def estimate(
    config: cfg.Config,
    wall_s: float | None = None,
    cpu_s: float | None = None,
    cpus: int | None = None,
    share: Collection[str] | None = None,
) -> Capacity:
    """`share`: the hubs this replica probes, where replicas share them (None: all of them)."""
    measured = wall_s is not None and cpu_s is not None
    wall = wall_s if wall_s is not None else DEFAULT_WALL_S
    cpu = cpu_s if cpu_s is not None else DEFAULT_CPU_S
    n_cpus = cpus or os.cpu_count() or 1
    slots = config.monitor.concurrency
    sustained = min(slots * 60.0 / max(wall, 0.1), n_cpus * 60.0 / max(cpu, 0.05))
    shared = share is not None and set(share) != set(config.hubs)
    mine = [h for h in config.hubs if share is None or h in share]
    return Capacity(
        len(mine),
        needed_per_min(config, mine),
        sustained,
        wall,
        cpu,
        n_cpus,
        slots,
        measured,
        fleet=len(config.hubs) if shared else 0,
    )


@dataclass
class CostMeter:
    """Running averages of what a probe costs, from what the monitor sees."""

    wall_s: float | None = None
    cpu_s: float | None = None
    _cpu_at: float | None = None  # the process tree's CPU at the last sample
    _probes_since: int = 0

    def probe_finished(self, wall_s: float) -> None:
        self.wall_s = _smooth(self.wall_s, wall_s)
        self._probes_since += 1

    def sample_cpu(self, cpu_now: float) -> None:
        """Once a minute: the tree's CPU since the last sample, shared by the probes since."""
        if self._cpu_at is not None and self._probes_since:
            per_probe = max(0.0, cpu_now - self._cpu_at) / self._probes_since
            self.cpu_s = _smooth(self.cpu_s, per_probe)
            self._probes_since = 0
        self._cpu_at = cpu_now


def _smooth(old: float | None, new: float) -> float:
    return new if old is None else old + SMOOTHING * (new - old)


def process_tree_cpu(pid: int | None = None) -> float:
    """CPU-seconds used by a process and all its descendants, those that ended included (their
    time is in their parents' cutime/cstime once reaped). 0.0 where /proc is missing."""
    return sum(process_tree_cpu_each(pid).values())


def process_tree_cpu_each(pid: int | None = None) -> dict[int, float]:
    """The same, per live process of the tree (pid: CPU-seconds, its reaped children's
    included)."""
    root = pid or os.getpid()
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    stats: dict[int, tuple[int, float]] = {}
    for entry in _proc_entries():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        ppid = int(fields[1])
        used = sum(int(f) for f in fields[11:15]) / ticks  # utime stime cutime cstime
        stats[int(entry.name)] = (ppid, used)
    children: dict[int, list[int]] = {}
    for p, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(p)
    each, todo = {}, [root]
    while todo:
        p = todo.pop()
        if p in stats:
            each[p] = stats[p][1]
        todo.extend(children.get(p, []))
    return each


def _proc_entries() -> Iterable[Path]:
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    return (p for p in proc.iterdir() if p.name.isdigit())
