"""The multi-checkpoint knapsack, written once for CP-SAT and PuLP (solver.engine.modeling).

Variables, over a candidate window (the waiting requests the model chooses among, and the running ones it
may preempt; everything else is fixed: left waiting, kept):
  x_j      admit waiting candidate j;  f_j <= x_j  it gets its whole prefill;  sum (x_j - f_j) <= 1;
  c_j      tokens of the one partial chunk (1 .. prefill - 1 when x_j - f_j = 1), b_j its KV blocks;
  k_i      keep running candidate i (1 - k_i: preempt it);
  e_s      overflow of scenario s in tokens (peak - capacity, at least 0); y_s: scenario s may break the
           guard (sum y_s <= the tolerated count), else e_s <= the running requests' own overflow;
  a_k      some candidate at arrival position >= k is admitted (a_k >= a_{k+1}, a_k >= x); q_k >= a_{k+1} - x:
           candidate k is passed over; the non-candidates between two candidates are passed when a_k is 1;
  z        a resident shared prefix is still held (>= every holder that is present and alive).
This step: seats, token budget (decodes + chunks), KV blocks (+ each present prefix once).
The future, per scenario: memory at step t is sum over present requests alive at t of (held + t), plus the
prefixes, and must be <= capacity + e_s at every t. Between two consecutive lifetimes of candidate
requests the set of candidates alive is fixed and their memory is A + N t (N = how many are chosen); the
fixed requests leave g(t) = capacity - their memory. A + N t <= g(t) + e_s for every t of the interval
holds as soon as it holds at the t minimising g(t) - N t, for each N = 0..(candidates alive): those few
points of the lower hull of g are the only rows kept (exact, not a relaxation), and rows that cannot bind
even when every candidate alive is taken (within the seats and budget) are dropped.
Objective, scaled to integers: score = value - penalties - preemption costs - eviction cost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from solver.batching.heuristic import value_density
from solver.batching.plans import Decision, peaks
from solver.batching.problem import Problem, batch_peaks, ceil_div
from solver.engine.modeling import ModelBuilder


@dataclass
class Model:
    cand: np.ndarray  # waiting candidates, by arrival
    pre: np.ndarray  # running preemption candidates
    x: list[Any]
    f: list[Any]
    c: list[Any]
    k: list[Any]
    objective: Any
    scale: int  # objective = scale * score + offset
    offset: int
    complete: bool  # every waiting request and (when preemption is allowed) every running one is a candidate
    hint: dict[Any, int] = field(default_factory=dict)
    rows: int = 0


def choose_candidates(p: Problem, hint: Decision | None, limit: int) -> np.ndarray:
    """The hint's admitted requests, then by turns the earliest arrivals and the best value per footprint,
    up to `limit`; returned in arrival order."""
    if p.nw <= limit:
        return p.order.copy()
    chosen: dict[int, None] = {}
    if hint is not None:
        for j in hint.admit[:limit]:
            chosen[j] = None
    density = np.lexsort((p.rank, -value_density(p, np.ones(p.nr, dtype=bool), p.r_chunk)))
    streams = [iter(p.order.tolist()), iter(density.tolist())]
    while len(chosen) < limit:
        for stream in streams:
            for j in stream:
                if j not in chosen:
                    chosen[j] = None
                    break
            if len(chosen) >= limit:
                break
    out = np.fromiter(chosen, dtype=np.int64)
    return out[np.argsort(p.rank[out], kind="stable")]


def preempt_candidates(p: Problem, hint: Decision | None) -> np.ndarray:
    if not p.inst.policy.allow_preempt or not p.nr:
        return np.zeros(0, dtype=np.int64)
    count = p.inst.policy.max_preempt_candidates
    if hint is not None and not hint.kept.all():
        count = max(count, p.nr - int(np.flatnonzero(~hint.kept).min()))
    # the running pass preempts the last first; the model may preempt any of the last `count`
    return np.arange(max(0, p.nr - count), p.nr, dtype=np.int64)


def build(p: Problem, mb: ModelBuilder, hint: Decision | None, max_candidates: int) -> Model:
    s_count = p.scenarios
    cand = choose_candidates(p, hint, max_candidates)
    pre = preempt_candidates(p, hint)
    const = np.ones(p.nr, dtype=bool)
    const[pre] = False
    w = len(cand)
    complete = w == p.nw and (len(pre) == p.nr or not p.inst.policy.allow_preempt)

    x = [mb.int_var(0, 1, f"x{j}") for j in cand.tolist()]
    f = [mb.int_var(0, 1, f"f{j}") for j in cand.tolist()]
    work = p.w_work[cand]
    c = [mb.int_var(0, max(0, int(work[t]) - 1), f"c{j}") for t, j in enumerate(cand.tolist())]
    blk = [
        mb.int_var(0, int(ceil_div(max(0, int(work[t]) - 1), p.block)), f"b{j}")
        for t, j in enumerate(cand.tolist())
    ]
    k = [mb.int_var(0, 1, f"k{i}") for i in pre.tolist()]
    lit: list[Any] = [*x, *k]  # literals of the variable items: candidates, then preemptables
    zdefs: list[tuple[Any, list[int]]] = []  # z >= each of these literals (for the hint)
    v_held = np.concatenate([p.w_held[cand], p.r_held[pre]])
    v_life = np.concatenate([p.life[:, p.nr + cand], p.life[:, pre]], axis=1)  # [S, V]
    v_owner = np.concatenate([p.w_prefix[cand], p.r_prefix[pre]])
    n_var = len(lit)

    # --- this step ----------------------------------------------------------------------------
    for t in range(w):
        mb.add_le(mb.linear([f[t], x[t]], [1, -1]), 0)
        if work[t] > 1:
            mb.add_le(mb.linear([x[t], f[t], c[t]], [1, -1, -1]), 0)  # a partial chunk has a token
            mb.add_le(mb.linear([c[t], x[t], f[t]], [1, -(int(work[t]) - 1), int(work[t]) - 1]), 0)
            mb.add_le(mb.linear([c[t], blk[t]], [1, -p.block]), 0)
        else:
            mb.add_le(mb.linear([x[t], f[t]], [1, -1]), 0)  # one token: always whole
    if w:
        mb.add_le(mb.linear([*x, *f], [1] * w + [-1] * w), 1)
    n_const = int(const.sum())
    mb.add_le(mb.linear([*x, *k], [1] * n_var), p.seats - n_const)
    run_tokens = np.where(p.r_decoding, 1, p.r_chunk)
    mb.add_le(
        mb.linear([*f, *c, *k], [*work.tolist(), *([1] * w), *run_tokens[pre].tolist()]),
        p.budget - int(run_tokens[const].sum()),
    )
    run_blocks = p.run_blocks(p.r_chunk)
    px_const = np.zeros(len(p.px_ids), dtype=bool)
    px_const[np.unique(p.r_prefix[const & (p.r_prefix >= 0)])] = True
    now_vars: list[Any] = [*f, *blk, *k]
    now_coefs: list[int] = [*p.w_blocks_full[cand].tolist(), *([1] * w), *run_blocks[pre].tolist()]
    for xid in range(len(p.px_ids)):
        holders = np.flatnonzero(v_owner == xid)
        if px_const[xid] or not len(holders):
            continue
        z = mb.int_var(0, 1, f"znow{xid}")
        for h in holders.tolist():
            mb.add_le(mb.linear([lit[h], z], [1, -1]), 0)
        zdefs.append((z, holders.tolist()))
        now_vars.append(z)
        now_coefs.append(int(p.px_blocks[xid]))
    mb.add_le(
        mb.linear(now_vars, now_coefs),
        p.cap_blocks - int(run_blocks[const].sum()) - int(p.px_blocks[px_const].sum()),
    )

    # --- the future, per scenario ----------------------------------------------------------------
    g_div = math.gcd(1000, p.eviction_per_1k) if p.eviction_per_1k else 1000
    scale = 1000 * s_count // g_div
    e_coef = p.eviction_per_1k // g_div
    all_items = np.concatenate([np.flatnonzero(const), pre])
    top = batch_peaks(p, np.ones(p.nr, dtype=bool), cand)  # nothing can exceed every request present
    e_max = np.maximum(top - p.cap, 0)
    max_take = _max_admissions(p, work, n_const, len(pre))
    e_vars: list[Any] = []
    e_lo: list[int] = []
    y_vars: list[Any] = []
    rows = 0
    for s in range(s_count):
        lo = 0
        e_vars.append(None)
        const_life = p.life[s, np.flatnonzero(const)]
        const_held = p.r_held[const]
        times = np.unique(
            np.concatenate([p.life[s, all_items], v_life[s]]) if len(all_items) or n_var else [1]
        )
        mem = _memory(times, const_life, const_held)
        # resident prefixes held by a fixed request: constant up to their longest fixed holder's life
        px_fixed_life = np.zeros(len(p.px_ids), dtype=np.int64)
        for xid in np.flatnonzero(px_const).tolist():
            holders = np.flatnonzero(const & (p.r_prefix == xid))
            px_fixed_life[xid] = p.life[s, holders].max()
            mem = mem + np.where(times <= px_fixed_life[xid], p.px_held[xid], 0)
        g = p.cap - mem
        life_s = v_life[s]
        breaks = set(life_s.tolist())
        chains: dict[int, tuple[np.ndarray, list[Any]]] = {}
        for xid in range(len(p.px_ids)):
            holders = np.flatnonzero(v_owner == xid)
            holders = holders[life_s[holders] > px_fixed_life[xid]]
            if not len(holders):
                continue
            holders = holders[np.argsort(-life_s[holders], kind="stable")]
            zs: list[Any] = []
            for rank, h in enumerate(holders.tolist()):
                z = mb.int_var(0, 1, f"z{s}_{xid}_{rank}")
                mb.add_le(mb.linear([lit[h], z], [1, -1]), 0)
                if zs:
                    mb.add_le(mb.linear([zs[-1], z], [1, -1]), 0)
                zs.append(z)
                zdefs.append((z, holders[: rank + 1].tolist()))
            chains[xid] = (holders, zs)
            if px_fixed_life[xid] > 0:
                breaks.add(int(px_fixed_life[xid]))
        bps = sorted(breaks, reverse=True)
        above = times > (bps[0] if bps else 0)
        if above.any():
            lo = max(lo, int(-g[above].min()))  # fixed requests alone, beyond every candidate's life
        e_hi = max(int(e_max[s]), lo)
        e = mb.int_var(lo, e_hi, f"e{s}")
        e_vars[s] = e
        e_lo.append(lo)
        for q, b_hi in enumerate(bps):
            b_lo = bps[q + 1] if q + 1 < len(bps) else 0
            inside = (times > b_lo) & (times <= b_hi)
            if not inside.any():
                continue
            t_pts, g_pts = times[inside], g[inside]
            alive = np.flatnonzero(life_s >= b_hi)
            extra_vars: list[Any] = []
            extra_coefs: list[int] = []
            for xid, (holders, zs) in chains.items():
                if b_lo < px_fixed_life[xid]:
                    continue  # within the fixed holders' life: already in g
                n_alive = int(np.count_nonzero(life_s[holders] >= b_hi))
                if n_alive:
                    extra_vars.append(zs[n_alive - 1])
                    extra_coefs.append(int(p.px_held[xid]))
            n_alive_var = len(alive)
            slopes = np.arange(n_alive_var + 1)[:, None]
            picks = np.unique(np.argmin(g_pts[None, :] - slopes * t_pts[None, :], axis=1))
            a_held = v_held[alive]
            is_cand = alive < w
            for idx in picks.tolist():
                t_val = int(t_pts[idx])
                coefs = a_held + t_val
                worst = int(coefs[~is_cand].sum()) + int(np.sort(coefs[is_cand])[::-1][:max_take].sum())
                worst += sum(extra_coefs)
                if worst <= int(g_pts[idx]):
                    continue  # cannot bind: every alive candidate taken still fits
                mb.add_le(
                    mb.linear(
                        [*(lit[a] for a in alive.tolist()), *extra_vars, e],
                        [*coefs.tolist(), *extra_coefs, -1],
                    ),
                    int(g_pts[idx]),
                )
                rows += 1
        if p.allowed_violations == 0:
            mb.add_le(mb.linear([e], [1]), int(p.allow[s]))
        elif p.allowed_violations < s_count:
            y = mb.int_var(0, 1, f"y{s}")
            y_vars.append(y)
            big = max(0, e_hi - int(p.allow[s]))
            mb.add_le(mb.linear([e, y], [1, -big]), int(p.allow[s]))
    if y_vars:
        mb.add_le(mb.linear(y_vars, [1] * len(y_vars)), p.allowed_violations)

    # --- passing over earlier arrivals (candidates are in arrival order) -------------------------
    ranks = p.rank[cand]
    cum = np.concatenate([[0], np.cumsum(p.w_pen[p.order])])
    a_vars = [mb.int_var(0, 1, f"a{t}") for t in range(w)]
    q_vars = [mb.int_var(0, 1, f"q{t}") for t in range(w)]
    gap = np.zeros(w, dtype=np.int64)  # penalties of the non-candidates just before each candidate
    for t in range(w):
        start = int(ranks[t - 1]) + 1 if t else 0
        gap[t] = int(cum[int(ranks[t])] - cum[start])
        mb.add_le(mb.linear([x[t], a_vars[t]], [1, -1]), 0)
        if t + 1 < w:
            mb.add_le(mb.linear([a_vars[t + 1], a_vars[t]], [1, -1]), 0)
            mb.add_le(mb.linear([a_vars[t + 1], x[t], q_vars[t]], [1, -1, -1]), 0)
    pen = p.w_pen[cand]

    # --- objective: scale * score + offset --------------------------------------------------------
    obj_vars = [*x, *a_vars, *q_vars, *k, *e_vars]
    obj_coefs = [
        *(scale * p.w_value[cand]).tolist(),
        *(-scale * gap).tolist(),
        *(-scale * pen).tolist(),
        *(scale * p.r_cost[pre]).tolist(),
        *([-e_coef] * s_count),
    ]
    offset = scale * int(p.r_cost[pre].sum())
    model = Model(
        cand=cand,
        pre=pre,
        x=x,
        f=f,
        c=c,
        k=k,
        objective=mb.linear(obj_vars, obj_coefs),
        scale=scale,
        offset=offset,
        complete=complete,
        rows=rows,
    )
    if hint is not None and set(hint.admit) <= set(cand.tolist()) and (~hint.kept[const]).sum() == 0:
        model.hint = _hint(p, model, hint, work, blk, a_vars, q_vars, e_vars, e_lo, y_vars, zdefs)
    return model


def _memory(times: np.ndarray, life: np.ndarray, held: np.ndarray) -> np.ndarray:
    """Memory of fixed growing requests at each time (sorted ascending): alive while life >= t."""
    if not len(life):
        return np.zeros(len(times), dtype=np.int64)
    pos = np.searchsorted(times, life, side="right")  # items alive at times[:pos]
    held_at = np.bincount(pos, weights=held, minlength=len(times) + 1)
    count_at = np.bincount(pos, minlength=len(times) + 1)
    held_ge = np.cumsum(held_at[::-1])[::-1][1:]
    count_ge = np.cumsum(count_at[::-1])[::-1][1:]
    return (held_ge + times * count_ge).astype(np.int64)


def _max_admissions(p: Problem, work: np.ndarray, n_const: int, n_pre: int) -> int:
    """How many candidates can join at once: seats, and the token budget (all whole but one)."""
    seats = p.seats - n_const
    left = p.budget - int(np.where(p.r_decoding, 1, p.r_chunk)[: p.nr].sum()) + n_pre
    fitting = int(np.searchsorted(np.cumsum(np.sort(work)), left, side="right")) + 1
    return max(0, min(seats, fitting, len(work)))


def _hint(
    p: Problem,
    m: Model,
    d: Decision,
    work: np.ndarray,
    blk: list[Any],
    a_vars: list[Any],
    q_vars: list[Any],
    e_vars: list[Any],
    e_lo: list[int],
    y_vars: list[Any],
    zdefs: list[tuple[Any, list[int]]],
) -> dict[Any, int]:
    """Every variable's value in the hint's plan, so that both engines start from a complete solution."""
    chunk = dict(zip(d.admit, d.chunks, strict=True))
    out: dict[Any, int] = {}
    lits: list[int] = []
    for t, j in enumerate(m.cand.tolist()):
        xv = int(j in chunk)
        full = int(xv and chunk[j] >= work[t])
        part = chunk[j] if xv and not full else 0
        out[m.x[t]] = xv
        out[m.f[t]] = full
        out[m.c[t]] = part
        out[blk[t]] = int(ceil_div(part, p.block))
        lits.append(xv)
    for t, i in enumerate(m.pre.tolist()):
        out[m.k[t]] = int(d.kept[i])
        lits.append(int(d.kept[i]))
    xs = lits[: len(m.cand)]
    seen = 0
    for t in range(len(xs) - 1, -1, -1):
        seen = max(seen, xs[t])
        out[a_vars[t]] = seen
    for t in range(len(xs)):
        nxt = out[a_vars[t + 1]] if t + 1 < len(xs) else 0
        out[q_vars[t]] = max(0, nxt - xs[t])
    for z, members in zdefs:
        out[z] = max((lits[h] for h in members), default=0)
    over = np.maximum(peaks(p, d) - p.cap, 0)
    for s, e in enumerate(e_vars):
        out[e] = max(int(over[s]), e_lo[s])
    for s, y in enumerate(y_vars):
        out[y] = int(out[e_vars[s]] > p.allow[s])
    return out
