"""The oracle: is a batching plan feasible, and what is its score? From the instance and the plan alone.

Shares no code with the heuristics or the formulations (not the prepared arrays, not the lifetimes, not
the peak formula): every rule of the contract is re-derived here from the models. The one thing it takes
from the solver is the scenario draw (solver.batching.scenarios), which is part of the contract's
definition of the guard: the checker must judge the plan on the same scenarios.

Hard rules: known ids, each at most once; an admitted request gets 1..(its prefill) tokens, at most one of
them less than its whole prefill; a kept running request in prefill gets its status-quo chunk (the budget
left after one token per running decode, given to the running prefills in order), decoding ones none;
seats; token budget (one token per decode plus every chunk); this step's KV blocks; the guard (future
peak within capacity, or within the running requests' own overflow, in at least guard_share of the
scenarios); no preemption when the policy forbids it. The plan's bookkeeping (blocks now, peaks,
breakdown) must match.

The future peak is computed by an event sweep: per scenario, the distinct lifetimes of the batch, and at
each the memory of the requests still alive (their held tokens plus the step) and of the prefixes one of
their holders still keeps.
"""

from __future__ import annotations

import math
from operator import attrgetter

import numpy as np

from models.batching import BatchingInstance, BatchingPlan
from solver.batching.scenarios import draw
from solver.engine.family import CheckReport

POINTS_PER_REQUEST = 1000


def _up(tokens: np.ndarray | int, block: int) -> np.ndarray:
    return -(-np.asarray(tokens, dtype=np.int64) // block)


_RUN = attrgetter(
    "kv_tokens",
    "generated_tokens",
    "max_new_tokens",
    "priority",
    "predicted_output_tokens",
    "tpot_deadline_ms",
    "prefill_remaining_tokens",
    "prefix_tokens",
)
_WAIT = attrgetter(
    "prompt_tokens",
    "generated_tokens",
    "max_new_tokens",
    "priority",
    "predicted_output_tokens",
    "arrival_s",
    "ttft_deadline_s",
)


def _columns(items: list, get: attrgetter, width: int) -> np.ndarray:
    """[width, len(items)] the fields as floats, a missing optional one as nan."""
    return np.array(list(map(get, items)), dtype=np.float64).reshape(len(items), width).T


def check(inst: BatchingInstance, plan: BatchingPlan) -> CheckReport:
    v: list[str] = []
    block = inst.block_tokens
    cap_blocks = inst.kv_capacity_tokens // block
    cap = cap_blocks * block
    pol = inst.policy
    nr, nw = len(inst.running), len(inst.waiting)
    rc = _columns(inst.running, _RUN, 8)
    kv, r_gen, r_max, r_prio = (rc[k].astype(np.int64) for k in range(4))
    r_pred = np.nan_to_num(rc[4], nan=-1).astype(np.int64)
    tpot = ~np.isnan(rc[5])
    pending = rc[6].astype(np.int64)
    r_prefix = [r.prefix_id for r in inst.running]
    r_px = np.where([x is not None for x in r_prefix], rc[7], 0).astype(np.int64).reshape(nr)
    arrival = np.fromiter(map(attrgetter("arrival_s"), inst.waiting), dtype=np.float64, count=nw)
    run_by_id = dict(zip(map(attrgetter("id"), inst.running), range(nr), strict=True))
    wait_by_id = dict(zip(map(attrgetter("id"), inst.waiting), range(nw), strict=True))
    now = inst.now_s if inst.now_s is not None else (float(arrival.max()) if nw else 0.0)

    admitted: list[int] = []
    seen: set[str] = set()
    for rid in plan.admit:
        if rid not in wait_by_id:
            v.append(f"admits {rid}, which is not a waiting request")
        elif rid in seen:
            v.append(f"admits {rid} twice")
        else:
            admitted.append(wait_by_id[rid])
        seen.add(rid)
    kept = np.ones(nr, dtype=bool)
    for rid in plan.preempt:
        if rid not in run_by_id:
            v.append(f"preempts {rid}, which is not a running request")
        elif not kept[run_by_id[rid]]:
            v.append(f"preempts {rid} twice")
        else:
            kept[run_by_id[rid]] = False
    if not kept.all() and not pol.allow_preempt:
        v.append(f"preempts {int((~kept).sum())} running request(s) but the policy forbids preemption")

    # the status quo's chunks: one token per decode, then the running prefills in order
    sq_chunk = np.zeros(nr, dtype=np.int64)
    left = inst.token_budget - int(np.count_nonzero(pending == 0))
    for i in np.flatnonzero(pending > 0).tolist():
        sq_chunk[i] = max(0, min(int(pending[i]), left))
        left -= int(sq_chunk[i])
    resident: dict[str, int] = {}
    for i, x in enumerate(r_prefix):
        if x is not None:
            resident[x] = int(r_px[i])
    # the admitted requests' own fields (the others matter only through their arrival and priority)
    adm_reqs = [inst.waiting[j] for j in admitted]
    wc = _columns(adm_reqs, _WAIT, 7)
    prompt, w_gen, w_max, w_prio = (wc[k].astype(np.int64) for k in range(4))
    w_pred = np.nan_to_num(wc[4], nan=-1).astype(np.int64)
    deadline = wc[6]
    w_prefix = [w.prefix_id if w.prefix_id in resident else None for w in adm_reqs]
    shared = np.asarray([resident[x] if x is not None else 0 for x in w_prefix], dtype=np.int64)
    work = (prompt + w_gen - shared).reshape(len(admitted))  # prefill tokens each admission computes

    run_chunk = np.zeros(nr, dtype=np.int64)
    adm = np.asarray(admitted, dtype=np.int64)
    chunk = np.zeros(len(admitted), dtype=np.int64)
    position = {j: n for n, j in enumerate(admitted)}
    for rid, c in plan.chunks.items():
        if rid in wait_by_id:
            j = wait_by_id[rid]
            if j not in position:
                v.append(f"gives a chunk to {rid}, which is left waiting")
            else:
                chunk[position[j]] = c
        elif rid in run_by_id:
            i = run_by_id[rid]
            if not kept[i]:
                v.append(f"gives a chunk to {rid}, which it preempts")
            elif pending[i] == 0:
                v.append(f"gives a prefill chunk to {rid}, which is decoding")
            else:
                run_chunk[i] = c
        else:
            v.append(f"gives a chunk to unknown request {rid}")
    for i in np.flatnonzero(kept & (pending > 0) & (run_chunk != sq_chunk)).tolist():
        v.append(
            f"chunk of running {inst.running[i].id} is {int(run_chunk[i])}; running prefills continue first "
            f"with {int(sq_chunk[i])} (decodes take one token each, then prefills in order)"
        )
    for n, j in enumerate(admitted):
        if not 1 <= chunk[n] <= work[n]:
            v.append(
                f"chunk of admitted {inst.waiting[j].id} is {int(chunk[n])}; it must be 1..{int(work[n])}"
            )
    partial = int(np.count_nonzero(chunk < work))
    if partial > 1:
        v.append(f"{partial} admitted requests get part of their prefill; at most one may")

    # this step: seats, tokens, blocks
    seats = int(kept.sum()) + len(admitted)
    if seats > inst.max_num_seqs:
        v.append(f"the batch has {seats} requests; max_num_seqs is {inst.max_num_seqs}")
    decoding = kept & (pending == 0)
    tokens = int(decoding.sum()) + int(run_chunk.sum()) + int(chunk.sum())
    if tokens > inst.token_budget:
        v.append(
            f"computes {tokens} tokens this step ({int(decoding.sum())} decodes + prefill chunks); "
            f"token_budget is {inst.token_budget}"
        )
    own = kv - r_px
    step = np.where(pending == 0, 1, run_chunk)
    blocks = int(_up(own + step, block)[kept].sum()) + int(_up(chunk, block).sum())
    holders: set[str] = {x for i in np.flatnonzero(kept).tolist() if (x := r_prefix[i]) is not None}
    holders |= {x for x in w_prefix if x is not None}
    blocks += sum(int(_up(resident[x], block)) for x in holders)
    if blocks > cap_blocks:
        v.append(f"this step needs {blocks} KV blocks; the cache has {cap_blocks}")
    if plan.kv_blocks_now != blocks:
        v.append(f"plan.kv_blocks_now says {plan.kv_blocks_now}; the batch holds {blocks}")

    # the future: every scenario's peak, for the plan and for the running requests alone
    s = pol.scenarios
    history = np.sort(np.asarray(inst.history_output_tokens, dtype=np.int64))
    columns = np.concatenate([np.arange(nr), nr + adm])
    lengths = draw(
        np.concatenate([r_gen, w_gen]),
        np.concatenate([r_max, w_max]),
        np.concatenate([r_pred, w_pred]),
        history,
        s,
        pol.scenario_seed,
        columns=columns,
    )
    rate = max(1, inst.token_budget - inst.max_num_seqs)
    r_held = own + pending + block - 1
    r_rem = lengths[:, :nr] - r_gen
    w_held = work + block - 1
    w_life = lengths[:, nr:] - w_gen + _up(np.maximum(work - 1, 0), rate)
    plan_life = np.concatenate([r_rem[:, kept] + _up(pending - run_chunk, rate)[kept], w_life], axis=1)
    plan_held = np.concatenate([r_held[kept], w_held])
    plan_owner = [r_prefix[i] for i in np.flatnonzero(kept).tolist()] + w_prefix
    peaks = _sweep(plan_life, plan_held, plan_owner, resident, block)
    if (peaks > cap).any():  # the running requests' own overflow is the limit where it is larger
        base = _sweep(r_rem + _up(pending - sq_chunk, rate), r_held, r_prefix, resident, block)
        limit = np.maximum(cap, base)
    else:
        limit = np.full(s, cap, dtype=np.int64)
    failing = int(np.count_nonzero(peaks > limit))
    tolerated = s - math.ceil(pol.guard_share * s - 1e-9)
    if failing > tolerated:
        worst = int(np.argmax(peaks - limit))
        v.append(
            f"the future peak exceeds the capacity in {failing} of {s} scenarios (at most {tolerated} may): "
            f"{int(peaks[worst])} tokens in scenario {worst}, limit {int(limit[worst])}"
        )
    if [int(x) for x in plan.peak_tokens] != peaks.tolist():
        v.append(
            f"plan.peak_tokens {list(plan.peak_tokens)[:8]} do not match the batch's {peaks[:8].tolist()}"
        )

    # the score
    late = ~np.isnan(deadline) & (deadline - now < 0)
    slack = np.where(np.isnan(deadline), np.inf, deadline - now)
    share = np.where(
        np.isnan(deadline),
        1.0,
        np.where(
            late,
            pol.late_value_share,
            1.0 + pol.urgency_bonus * np.clip(1.0 - slack / pol.urgency_horizon_s, 0.0, 1.0),
        ),
    )
    value = float(np.rint((1 + w_prio) * POINTS_PER_REQUEST * share).sum())
    skip = 0.0
    if admitted:
        order = np.lexsort((np.arange(nw), arrival))
        rank = np.empty(nw, dtype=np.int64)
        rank[order] = np.arange(nw)
        is_admitted = np.zeros(nw, dtype=bool)
        is_admitted[adm] = True
        passed = np.flatnonzero((rank < rank[adm].max()) & ~is_admitted)
        prio = np.fromiter(
            (inst.waiting[k].priority for k in passed.tolist()), dtype=np.int64, count=len(passed)
        )
        age = np.maximum(0.0, now - arrival[passed])
        skip = float(
            np.rint(
                (1 + prio)
                * (pol.skip_penalty + pol.skip_penalty_per_s * np.maximum(0.0, age - pol.skip_grace_s))
            ).sum()
        )
    gone = ~kept
    cost = float(
        np.rint(
            (1 + r_prio[gone]) * POINTS_PER_REQUEST * pol.preempt_cost * np.where(tpot[gone], 2.0, 1.0)
            + pol.recompute_cost_per_token * kv[gone]
        ).sum()
    )
    overflow = float(np.maximum(peaks - cap, 0).sum()) / s
    eviction = pol.eviction_cost_per_1k_tokens * overflow / 1000.0
    score = value - skip - cost - eviction
    expected = {
        "value": value,
        "skip_penalty": skip,
        "preempt_cost": cost,
        "expected_overflow_tokens": overflow,
        "eviction_cost": eviction,
        "score": score,
    }
    for key, want in expected.items():
        got = plan.breakdown.get(key)
        if got is None or abs(float(got) - want) > 1e-6 * max(1.0, abs(want)):
            v.append(f"plan.breakdown[{key!r}] is {got}; the plan's is {want}")
    return CheckReport(violations=v, objective={"score": score})


def _sweep(
    life: np.ndarray, held: np.ndarray, owner: list[str | None], resident: dict[str, int], block: int
) -> np.ndarray:
    """[S] the largest memory over the future steps: at step t a request holds held + t while t <= its
    lifetime; a resident prefix (whole blocks) stays while one of its holders does. Memory only grows
    between two lifetimes, so each request's lifetime is a step to look at: sorted ascending, everything
    from a position on is alive there (a tie's first position counts all of it, which is the max)."""
    s, m = life.shape
    if m == 0:
        return np.zeros(s, dtype=np.int64)
    by = np.argsort(life, axis=1, kind="stable")
    times = np.take_along_axis(life, by, axis=1)
    held_from = np.cumsum(held[by][:, ::-1], axis=1)[:, ::-1]
    alive = np.arange(m, 0, -1)[None, :]
    mem = held_from + times * alive
    groups: dict[str, list[int]] = {}
    for c, x in enumerate(owner):
        if x is not None:
            groups.setdefault(x, []).append(c)
    for x, cols in groups.items():
        last = life[:, cols].max(axis=1)
        mem = mem + np.where(times <= last[:, None], int(_up(resident[x], block)) * block, 0)
    return mem.max(axis=1).astype(np.int64)
