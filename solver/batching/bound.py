"""A cheap upper bound on the score: linear relaxations of single constraints, the smallest of them.

Penalties and the expected eviction cost are at least 0, so the score is at most the value admitted
less the cost of the preemptions made. Each bound keeps one constraint and relaxes the choices to
fractions (a knapsack LP, where preempting a running request frees its share at its cost):
  - seats: each admitted request takes one;
  - the token budget: each admitted request computes its whole prefill, except one at most (whose
    part is credited in full to the budget);
  - the guard at the first future step, when it is on: every request in the batch is alive then, so in
    every guarded scenario the held tokens plus one of the batch stay within max(capacity, the running
    requests' own peak); shared prefixes are left out (a relaxation).
The LP optimum of max sum v x - sum c y s.t. sum a x - sum b y <= R, 0 <= x, y <= 1 is the minimum over
lam >= 0 of lam R + sum (v - lam a)+ + sum (lam b - c)+, convex and piecewise linear: its minimum is at
the breakpoint where the slope R - sum{a: v/a > lam} + sum{b: c/b < lam} changes sign.
"""

from __future__ import annotations

import numpy as np

from solver.batching.plans import SCORE
from solver.batching.problem import Problem


def lp_knapsack(v: np.ndarray, a: np.ndarray, c: np.ndarray, b: np.ndarray, r: float) -> float:
    """max sum v x - sum c y  s.t.  sum a x - sum b y <= r, x, y in [0, 1]; a, b > 0, v, c >= 0."""
    keep = v > 0
    v, a = v[keep].astype(np.float64), a[keep].astype(np.float64)
    c, b = c.astype(np.float64), b.astype(np.float64)
    if not len(v) and r >= 0:
        return 0.0
    # slope at lam (from the right): r - sum a[v/a > lam] + sum b[c/b <= lam]; nondecreasing in lam. With
    # every breakpoint sorted once (weights a and b integral, so the sums are exact), it is r - sum a plus
    # the running sum of the weights at the last of lam's ties: the first breakpoint with slope >= 0 is
    # the first of the ties of the first position whose running slope is >= 0
    ratio = np.concatenate([[0.0], v / a, c / b])
    order = np.argsort(ratio, kind="stable")
    pts = ratio[order]
    running = r - a.sum() + np.cumsum(np.concatenate([[0.0], a, b])[order])
    k = min(int(np.searchsorted(running, 0.0, side="left")), len(pts) - 1)
    k = int(np.searchsorted(pts, pts[k], side="left"))  # the one before is the previous breakpoint

    def dual(lam: float) -> float:
        return lam * r + np.maximum(v - lam * a, 0).sum() + np.maximum(lam * b - c, 0).sum()

    return float(min(dual(float(pts[k])), dual(float(pts[max(k - 1, 0)]))))


def cheap_bound(p: Problem) -> dict[str, float | None]:
    v = p.w_value
    free = p.inst.policy.allow_preempt
    c = p.r_cost if free else np.zeros(0, dtype=np.int64)
    pick = slice(None) if free else slice(0, 0)
    ones_w, ones_r = np.ones(p.nw), np.ones(p.nr)[pick]
    bounds = [lp_knapsack(v, ones_w, c, ones_r, p.seats - p.nr)]
    decodes = int(np.count_nonzero(p.r_decoding))
    run_tokens = np.where(p.r_decoding, 1, p.r_chunk).astype(np.float64)
    partial_credit = float(p.w_work.max() - 1) if p.nw else 0.0
    tokens = np.maximum(p.w_work, 1)
    r_budget = p.budget - decodes - float(p.r_chunk.sum()) + partial_credit
    used_r = np.maximum(run_tokens[pick], 1e-9)
    bounds.append(lp_knapsack(v, tokens, c, used_r, r_budget))
    if p.guard:
        limit = float(np.maximum(p.cap, p.base_peak).max())
        run_mem = float((p.r_held + 1).sum())
        bounds.append(lp_knapsack(v, p.w_held + 1, c, (p.r_held + 1)[pick], limit - run_mem))
    return {SCORE: float(np.floor(min(bounds) + 1e-6))}
