"""Which hubs a replica probes (pure): the hubs spread evenly over the live replicas.

Every replica computes the same quotas from the same table: `hubs // replicas` each, and the
remainder's extra hub each to the replicas that hold the most already (then by name), so a replica
that joins takes hubs from the busiest and a lone replica keeps what it has. A replica over its
quota releases its surplus; one under it takes free hubs (no lease, or an expired one). Each
replica prefers different hubs (a hash of replica and hub), so replicas starting together rarely
reach for the same one; the store settles who gets a hub they both want.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    take: list[str]  # free hubs to lease, most preferred first
    release: list[str]  # hubs over the quota, to hand back


def quotas(replicas: Collection[str], held: Mapping[str, int], hubs: int) -> dict[str, int]:
    """How many hubs each replica should hold: even, the remainder to the busiest."""
    if not replicas:
        return {}
    base, extra = divmod(hubs, len(replicas))
    order = sorted(replicas, key=lambda r: (-held.get(r, 0), r))
    return {r: base + (1 if i < extra else 0) for i, r in enumerate(order)}


def preference(replica: str, hub: str) -> str:
    return hashlib.sha256(f"{replica}\0{hub}".encode()).hexdigest()


def plan(me: str, hubs: Sequence[str], live: Collection[str], owners: Mapping[str, str]) -> Plan:
    """`owners`: hub -> the holder of its unexpired lease (free hubs are absent). A hub held by a
    replica that is no longer live stays taken until its lease expires (its fence may still be
    good until then)."""
    replicas = set(live) | {me}
    held = Counter(owners[h] for h in hubs if owners.get(h) in replicas)
    quota = quotas(replicas, held, len(hubs))[me]
    mine = sorted((h for h in hubs if owners.get(h) == me), key=lambda h: preference(me, h))
    free = sorted((h for h in hubs if h not in owners), key=lambda h: preference(me, h))
    return Plan(take=free[: max(0, quota - len(mine))], release=mine[quota:])
