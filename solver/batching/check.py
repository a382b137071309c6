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

What does not depend on the plan (the running requests' fields, the ids, arrivals, the status-quo chunks,
the running requests' scenario draws) is derived once per instance object and reused for its next plans:
the portfolio judges four or five plans of one instance. `forget(instance)` drops it; the family's
`prepare` (the start of every solve, and of `solver.check`) calls it, so an instance edited in place is
read afresh by the next solve.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

import numpy as np

from models.batching import BatchingInstance, BatchingPlan
from solver.batching.scenarios import draw
from solver.engine.family import CheckReport

POINTS_PER_REQUEST = 1000
I64 = np.int64

_RUN = (
    "kv_tokens",
    "generated_tokens",
    "max_new_tokens",
    "priority",
    "predicted_output_tokens",
    "tpot_deadline_ms",
    "prefill_remaining_tokens",
    "prefix_tokens",
)
_WAIT = (
    "prompt_tokens",
    "generated_tokens",
    "max_new_tokens",
    "priority",
    "predicted_output_tokens",
    "ttft_deadline_s",
)


def _up(tokens: Any, block: int) -> np.ndarray:
    return -(-np.asarray(tokens, dtype=I64) // block)


def _columns(items: list, names: tuple[str, ...]) -> np.ndarray:
    """[len(names), len(items)] the fields as floats, a missing optional one as nan."""
    out = np.empty((len(names), len(items)), dtype=np.float64)
    for k, name in enumerate(names):
        values = list(map(attrgetter(name), items))
        missing = values.count(None)
        if missing == len(values):
            out[k] = np.nan
        elif missing:
            out[k] = np.array(values, dtype=np.float64)
        else:
            out[k] = np.fromiter(values, dtype=np.float64, count=len(values))
    return out


@dataclass
class _Facts:
    """What the checker reads from an instance whatever the plan."""

    block: int
    cap_blocks: int
    cap: int
    rate: int  # prefill tokens per future step, at least
    now: float
    scenarios: int
    tolerated: int  # scenarios in which the guard may fail
    history: np.ndarray  # sorted
    run_ids: list[str]
    run_index: dict[str, int]
    wait_index: dict[str, int]
    kv: np.ndarray
    pending: np.ndarray
    decoding: np.ndarray
    own: np.ndarray  # KV held now less a resident prefix
    r_code: np.ndarray  # resident prefix of each running request (index), -1 for none
    px_code: dict[str, int]
    px_tokens: np.ndarray
    px_held: np.ndarray  # whole blocks, in tokens
    sq_chunk: np.ndarray  # the status quo's prefill chunks
    r_held: np.ndarray  # tokens once prefilled, plus a block's rounding
    r_rem: np.ndarray  # [S, nr] output tokens still to generate in each scenario
    r_cost: np.ndarray  # points lost by preempting each running request
    arrival: np.ndarray
    w_prio: np.ndarray
    rank: np.ndarray  # position of each waiting request in arrival order
    base: np.ndarray | None = None  # [S] the running requests' own peak (computed when needed)
    reports: dict[tuple, CheckReport] = field(default_factory=dict)  # by the plan's whole content


def _derive(inst: BatchingInstance) -> _Facts:
    block = inst.block_tokens
    cap_blocks = inst.kv_capacity_tokens // block
    pol = inst.policy
    nr, nw = len(inst.running), len(inst.waiting)
    rc = _columns(inst.running, _RUN)
    kv, r_gen, r_max, r_prio = (rc[k].astype(I64) for k in range(4))
    r_pred = np.where(np.isnan(rc[4]), -1, rc[4]).astype(I64)
    tpot = ~np.isnan(rc[5])
    pending = rc[6].astype(I64)
    px_code: dict[str, int] = {}
    px_tok: list[int] = []
    codes = np.full(nr, -1, dtype=I64)
    prefix_ids = list(map(attrgetter("prefix_id"), inst.running))
    for i, x in enumerate(prefix_ids if prefix_ids.count(None) < nr else ()):
        if x is not None:
            if x not in px_code:
                px_code[x] = len(px_tok)
                px_tok.append(int(rc[7, i]))
            codes[i] = px_code[x]
    px_tokens = np.asarray(px_tok, dtype=I64)
    own = kv - np.where(codes >= 0, px_tokens[np.maximum(codes, 0)] if px_tok else 0, 0)
    decoding = pending == 0
    sq_chunk = np.zeros(nr, dtype=I64)
    left = inst.token_budget - int(np.count_nonzero(decoding))
    for i in np.flatnonzero(~decoding).tolist():
        sq_chunk[i] = max(0, min(int(pending[i]), left))
        left -= int(sq_chunk[i])
    history = np.sort(np.asarray(inst.history_output_tokens, dtype=I64))
    s = pol.scenarios
    r_rem = draw(r_gen, r_max, r_pred, history, s, pol.scenario_seed) - r_gen
    r_cost = np.rint(
        (1 + r_prio) * POINTS_PER_REQUEST * pol.preempt_cost * np.where(tpot, 2.0, 1.0)
        + pol.recompute_cost_per_token * kv
    )
    arrival = np.fromiter(map(attrgetter("arrival_s"), inst.waiting), dtype=np.float64, count=nw)
    w_prio = np.fromiter(map(attrgetter("priority"), inst.waiting), dtype=I64, count=nw)
    rank = np.empty(nw, dtype=I64)
    rank[np.lexsort((np.arange(nw), arrival))] = np.arange(nw)
    run_ids = list(map(attrgetter("id"), inst.running))
    return _Facts(
        block=block,
        cap_blocks=cap_blocks,
        cap=cap_blocks * block,
        rate=max(1, inst.token_budget - inst.max_num_seqs),
        now=inst.now_s if inst.now_s is not None else (float(arrival.max()) if nw else 0.0),
        scenarios=s,
        tolerated=s - math.ceil(pol.guard_share * s - 1e-9),
        history=history,
        run_ids=run_ids,
        run_index=dict(zip(run_ids, range(nr), strict=True)),
        wait_index=dict(zip(map(attrgetter("id"), inst.waiting), range(nw), strict=True)),
        kv=kv,
        pending=pending,
        decoding=decoding,
        own=own,
        r_code=codes,
        px_code=px_code,
        px_tokens=px_tokens,
        px_held=_up(px_tokens, block) * block,
        sq_chunk=sq_chunk,
        r_held=own + pending + block - 1,
        r_rem=r_rem,
        r_cost=r_cost,
        arrival=arrival,
        w_prio=w_prio,
        rank=rank,
    )


_CACHE: dict[int, tuple[weakref.ref[BatchingInstance], _Facts]] = {}
_CACHE_SIZE = 8


def _facts(inst: BatchingInstance) -> _Facts:
    key = id(inst)
    hit = _CACHE.get(key)
    if hit is not None and hit[0]() is inst:
        return hit[1]
    facts = _derive(inst)
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.clear()

    def drop(ref: weakref.ref[BatchingInstance]) -> None:
        entry = _CACHE.get(key)
        if entry is not None and entry[0] is ref:
            del _CACHE[key]

    _CACHE[key] = (weakref.ref(inst, drop), facts)
    return facts


def forget(inst: BatchingInstance) -> None:
    """Read this instance afresh at its next check (it may have been edited in place)."""
    _CACHE.pop(id(inst), None)


_REPORTS = 16  # judged plans remembered per instance


def _content(plan: BatchingPlan) -> tuple | None:
    """Everything of the plan the checker reads, as a key (None when a field is not hashable)."""
    key = (
        tuple(plan.admit),
        tuple(plan.chunks.items()),
        tuple(plan.preempt),
        plan.kv_blocks_now,
        tuple(plan.peak_tokens),
        tuple(plan.breakdown.items()),
    )
    try:
        hash(key)
    except TypeError:
        return None
    return key


def check(inst: BatchingInstance, plan: BatchingPlan) -> CheckReport:
    """The verdict on the plan. The portfolio often judges the same plan twice (several baselines agree
    under heavy load): a plan whose whole content was judged on this instance gets that verdict again."""
    f = _facts(inst)
    key = _content(plan)
    known = f.reports.get(key) if key is not None else None
    if known is None:
        known = _check(inst, f, plan)
        if key is not None:
            if len(f.reports) >= _REPORTS:
                f.reports.clear()
            f.reports[key] = known
    return CheckReport(violations=list(known.violations), objective=dict(known.objective))


def _check(inst: BatchingInstance, f: _Facts, plan: BatchingPlan) -> CheckReport:
    v: list[str] = []
    block, cap, pol, s = f.block, f.cap, inst.policy, f.scenarios
    nr = len(f.run_ids)

    admitted: list[int] = []
    seen: set[str] = set()
    for rid in plan.admit:
        j = f.wait_index.get(rid)
        if j is None:
            v.append(f"admits {rid}, which is not a waiting request")
        elif rid in seen:
            v.append(f"admits {rid} twice")
        else:
            admitted.append(j)
        seen.add(rid)
    kept = np.ones(nr, dtype=bool)
    for rid in plan.preempt:
        i = f.run_index.get(rid)
        if i is None:
            v.append(f"preempts {rid}, which is not a running request")
        elif not kept[i]:
            v.append(f"preempts {rid} twice")
        else:
            kept[i] = False
    gone = ~kept
    if gone.any() and not pol.allow_preempt:
        v.append(f"preempts {int(gone.sum())} running request(s) but the policy forbids preemption")

    # the admitted requests' own fields (the others matter only through their arrival and priority)
    adm = np.asarray(admitted, dtype=I64)
    reqs = [inst.waiting[j] for j in admitted]
    wc = _columns(reqs, _WAIT)
    prompt, w_gen, w_max, w_prio = (wc[k].astype(I64) for k in range(4))
    w_pred = np.where(np.isnan(wc[4]), -1, wc[4]).astype(I64)
    deadline = wc[5]
    w_code = np.fromiter(
        (f.px_code.get(x, -1) if x is not None else -1 for x in map(attrgetter("prefix_id"), reqs)),
        dtype=I64,
        count=len(reqs),
    )
    shared = np.where(w_code >= 0, f.px_tokens[np.maximum(w_code, 0)] if len(f.px_tokens) else 0, 0)
    work = prompt + w_gen - shared  # prefill tokens each admission computes

    run_chunk = np.zeros(nr, dtype=I64)
    chunk = np.zeros(len(admitted), dtype=I64)
    position = {j: n for n, j in enumerate(admitted)}
    for rid, c in plan.chunks.items():
        j = f.wait_index.get(rid)
        if j is not None:
            if j not in position:
                v.append(f"gives a chunk to {rid}, which is left waiting")
            else:
                chunk[position[j]] = c
            continue
        i = f.run_index.get(rid)
        if i is None:
            v.append(f"gives a chunk to unknown request {rid}")
        elif not kept[i]:
            v.append(f"gives a chunk to {rid}, which it preempts")
        elif f.decoding[i]:
            v.append(f"gives a prefill chunk to {rid}, which is decoding")
        else:
            run_chunk[i] = c
    for i in np.flatnonzero(kept & ~f.decoding & (run_chunk != f.sq_chunk)).tolist():
        v.append(
            f"chunk of running {f.run_ids[i]} is {int(run_chunk[i])}; running prefills continue first "
            f"with {int(f.sq_chunk[i])} (decodes take one token each, then prefills in order)"
        )
    for n in np.flatnonzero((chunk < 1) | (chunk > work)).tolist():
        v.append(f"chunk of admitted {reqs[n].id} is {int(chunk[n])}; it must be 1..{int(work[n])}")
    partial = int(np.count_nonzero(chunk < work))
    if partial > 1:
        v.append(f"{partial} admitted requests get part of their prefill; at most one may")

    # this step: seats, tokens, blocks
    seats = int(kept.sum()) + len(admitted)
    if seats > inst.max_num_seqs:
        v.append(f"the batch has {seats} requests; max_num_seqs is {inst.max_num_seqs}")
    decodes = int(np.count_nonzero(kept & f.decoding))
    tokens = decodes + int(run_chunk.sum()) + int(chunk.sum())
    if tokens > inst.token_budget:
        v.append(
            f"computes {tokens} tokens this step ({decodes} decodes + prefill chunks); "
            f"token_budget is {inst.token_budget}"
        )
    step = np.where(f.decoding, 1, run_chunk)
    owner = np.concatenate([f.r_code[kept], w_code])
    present = np.unique(owner[owner >= 0])
    blocks = int(_up(f.own + step, block)[kept].sum()) + int(_up(chunk, block).sum())
    blocks += int(f.px_held[present].sum()) // block
    if blocks > f.cap_blocks:
        v.append(f"this step needs {blocks} KV blocks; the cache has {f.cap_blocks}")
    if plan.kv_blocks_now != blocks:
        v.append(f"plan.kv_blocks_now says {plan.kv_blocks_now}; the batch holds {blocks}")

    # the future: every scenario's peak, for the plan and for the running requests alone
    w_len = draw(w_gen, w_max, w_pred, f.history, s, pol.scenario_seed, columns=nr + adm)
    w_life = w_len - w_gen + _up(np.maximum(work - 1, 0), f.rate)
    r_life = f.r_rem[:, kept] + _up(f.pending - run_chunk, f.rate)[kept]
    life = np.concatenate([r_life, w_life], axis=1)
    held = np.concatenate([f.r_held[kept], work + block - 1])
    peaks = _sweep(life, held, owner, f.px_held)
    if (peaks > cap).any():  # the running requests' own overflow is the limit where it is larger
        if f.base is None:
            f.base = _sweep(f.r_rem + _up(f.pending - f.sq_chunk, f.rate), f.r_held, f.r_code, f.px_held)
        limit = np.maximum(cap, f.base)
    else:
        limit = np.full(s, cap, dtype=I64)
    failing = int(np.count_nonzero(peaks > limit))
    if failing > f.tolerated:
        worst = int(np.argmax(peaks - limit))
        v.append(
            f"the future peak exceeds the capacity in {failing} of {s} scenarios (at most {f.tolerated} "
            f"may): {int(peaks[worst])} tokens in scenario {worst}, limit {int(limit[worst])}"
        )
    if [int(x) for x in plan.peak_tokens] != peaks.tolist():
        v.append(
            f"plan.peak_tokens {list(plan.peak_tokens)[:8]} do not match the batch's {peaks[:8].tolist()}"
        )

    # the score
    has_deadline = ~np.isnan(deadline)
    slack = np.where(has_deadline, deadline - f.now, np.inf)
    late = has_deadline & (slack < 0)
    share = np.where(
        late,
        pol.late_value_share,
        1.0
        + np.where(
            has_deadline, pol.urgency_bonus * np.clip(1.0 - slack / pol.urgency_horizon_s, 0.0, 1.0), 0.0
        ),
    )
    value = float(np.rint((1 + w_prio) * POINTS_PER_REQUEST * share).sum())
    skip = 0.0
    if admitted:
        passed = f.rank < f.rank[adm].max()
        passed[adm] = False
        age = np.maximum(0.0, f.now - f.arrival[passed])
        skip = float(
            np.rint(
                (1 + f.w_prio[passed])
                * (pol.skip_penalty + pol.skip_penalty_per_s * np.maximum(0.0, age - pol.skip_grace_s))
            ).sum()
        )
    cost = float(f.r_cost[gone].sum())
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


def _sweep(life: np.ndarray, held: np.ndarray, owner: np.ndarray, px_held: np.ndarray) -> np.ndarray:
    """[S] the largest memory over the future steps: at step t a request holds held + t while t <= its
    lifetime; a resident prefix (owner: its index, -1 for none; px_held its whole blocks in tokens) stays
    while one of its holders does. Memory only grows between two lifetimes, so each request's lifetime
    is a step to look at: sorted ascending, everything from a position on is alive there (a tie's first
    position counts all of it, which is the max)."""
    s, m = life.shape
    if m == 0:
        return np.zeros(s, dtype=I64)
    key = life.astype(np.uint16) if life.min() >= 0 and life.max() <= 65535 else life
    by = np.argsort(key, axis=1, kind="stable")  # a radix sort for 16-bit integers
    times = np.take_along_axis(life, by, axis=1)
    mem = np.cumsum(held[by][:, ::-1], axis=1)[:, ::-1] + times * np.arange(m, 0, -1)
    for x in np.unique(owner[owner >= 0]).tolist():
        last = life[:, owner == x].max(axis=1)
        mem += np.where(times <= last[:, None], px_held[x], 0)
    return mem.max(axis=1).astype(I64)
