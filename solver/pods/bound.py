"""A cheap lexicographic bound on placed pods per tier, from pooled capacity.

Tier by tier from the highest: a tier can place at most as many of its pods as fit, smallest
first, into the cluster's pooled capacity (each resource on its own, GPUs as milli). A plan that
reaches the bound on a tier consumes at least the smallest requests of that many pods, which are
taken out of the pool before the next tier: valid for the lexicographic order, and often tight
enough to prove the default scheduler's placement optimal without any search.
"""

from __future__ import annotations

import numpy as np

from solver.pods.cluster import FULL, Arrays
from solver.pods.plans import EVICTIONS, MOVES, tier_name


def placeable(arr: Arrays) -> np.ndarray:
    """Pods that could run at all: running pods that may stay, or pods some empty node could take."""
    out = arr.stay_ok.copy()
    verdict: dict[int, bool] = {}  # identical pods share the answer
    for j in np.flatnonzero(~out).tolist():
        spec = int(arr.spec[j])
        if spec not in verdict:
            ok = arr.rules.mask_of(j) & np.all(arr.req[j] <= arr.cap, axis=1)
            if arr.whole[j]:
                ok &= arr.devices >= arr.whole[j]
            elif arr.milli[j]:
                ok &= arr.devices >= 1
            verdict[spec] = bool(ok.any())
        out[j] = verdict[spec]
    return out


def cheap_bound(arr: Arrays) -> dict[str, float | None]:
    demand = np.column_stack([arr.req, arr.whole * FULL + arr.milli])  # [P, R+1], GPUs pooled in milli
    pool = np.append(arr.cap.sum(axis=0), int(arr.devices.sum()) * FULL).astype(np.float64)
    can = placeable(arr)
    fixed = (arr.origin >= 0) & ~arr.movable & can
    pool -= demand[fixed].sum(axis=0)
    out: dict[str, float | None] = {}
    for p in sorted(set(arr.prio.tolist()), reverse=True):
        tier = arr.prio == p
        free = np.flatnonzero(tier & can & ~fixed)
        k = _anti_affinity_cap(arr, free)
        for r in range(demand.shape[1]):
            if k == 0:
                break
            sizes = np.sort(demand[free, r])
            k = min(k, int(np.searchsorted(np.cumsum(sizes), pool[r], side="right")))
        for r in range(demand.shape[1]):
            pool[r] -= np.sort(demand[free, r])[:k].sum()
        out[tier_name(p)] = float(np.count_nonzero(tier & fixed) + k)
    out[EVICTIONS] = 0.0
    out[MOVES] = 0.0
    return out


def _anti_affinity_cap(arr: Arrays, pods: np.ndarray) -> int:
    """How many of these pods can run at once: a group with anti-affinity gets one per node."""
    spread = pods[arr.anti[pods]]
    if not len(spread):
        return len(pods)
    _, sizes = np.unique(arr.group[spread], return_counts=True)
    return len(pods) - len(spread) + int(np.minimum(sizes, arr.n_nodes).sum())
