"""The prepared step: per-request arrays every heuristic, formulation, bound and explanation reads.

Indices: running requests 0..nr-1 in instance order (admission order), waiting 0..nw-1 in instance
order; `order` lists the waiting in arrival order (FCFS, ties by position). Items of the memory model are
running then waiting (n = nr + nw), plus one item per resident shared prefix.

Memory semantics (see models.batching): a request's `held` tokens are what it holds once prefilled, plus
block_tokens - 1 (rounding to whole blocks, at worst); at step t from now it holds held + t while t <= its
lifetime. Lifetime = remaining output tokens, plus the steps its unfinished prefill still needs at the
prefill rate (token_budget - max_num_seqs tokens per step, at least 1): conservative, so that the memory
counted at each step is never below what the engine allocates.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from operator import attrgetter

import numpy as np

from models.batching import BatchingInstance
from solver.batching.scenarios import draw

POINTS = 1000  # value of admitting a request of priority 0 that is on time


def ceil_div(a: np.ndarray | int, b: int) -> np.ndarray:
    return -(-np.asarray(a, dtype=np.int64) // b)


@dataclass
class Problem:
    inst: BatchingInstance
    block: int
    cap_blocks: int
    cap: int  # tokens: whole blocks
    seats: int
    budget: int
    rate: int  # prefill tokens per future step, at least
    now: float
    scenarios: int
    allowed_violations: int  # scenarios in which the guard may fail
    nr: int
    nw: int
    # running
    r_ids: list[str]
    r_own: np.ndarray  # KV tokens held now, shared prefix excluded
    r_gen: np.ndarray  # output tokens generated so far
    r_kv: np.ndarray  # KV tokens held now, shared prefix included
    r_max: np.ndarray  # max_new_tokens
    r_pending: np.ndarray  # prefill tokens still to compute
    r_decoding: np.ndarray  # bool
    r_chunk: np.ndarray  # prefill chunk by the rule (decodes first, then prefills in order)
    r_held: np.ndarray
    r_weight: np.ndarray
    r_cost: np.ndarray  # points lost by preempting it
    r_prefix: np.ndarray  # resident prefix index or -1
    # waiting
    w_ids: list[str]
    w_work: np.ndarray  # prefill tokens to compute on admission (a resident prefix is reused)
    w_prompt: np.ndarray
    w_gen: np.ndarray
    w_max: np.ndarray
    w_held: np.ndarray
    w_blocks_full: np.ndarray  # blocks of its full prefill
    w_delay: np.ndarray  # extra steps its prefill may take after a one-token chunk
    w_weight: np.ndarray
    w_value: np.ndarray  # points for admitting it
    w_pen: np.ndarray  # points for passing it over
    w_prefix: np.ndarray  # resident prefix index or -1
    w_late: np.ndarray  # bool: TTFT deadline already passed
    order: np.ndarray  # waiting indices in arrival order
    rank: np.ndarray  # position of each waiting request in `order`
    # resident shared prefixes (held by a running request)
    px_ids: list[str]
    px_tokens: np.ndarray
    px_held: np.ndarray  # whole blocks, in tokens
    px_blocks: np.ndarray
    # scenarios
    lengths: np.ndarray  # [S, n] total output tokens
    life: np.ndarray  # [S, n] lifetime in steps (running with the rule chunk; waiting if admitted)
    base_peak: np.ndarray  # [S] the running requests alone (nothing admitted or preempted)
    allow: np.ndarray  # [S] overflow the guard tolerates: the running requests' own, max(0, base - cap)
    eviction_per_1k: int

    @property
    def guard(self) -> bool:
        return self.allowed_violations < self.scenarios

    def run_blocks(self, chunk: np.ndarray) -> np.ndarray:
        """Blocks each running request holds after this step, computing `chunk` prefill tokens (or one
        decode token)."""
        step = np.where(self.r_decoding, 1, chunk)
        return ceil_div(self.r_own + step, self.block)

    @functools.cached_property
    def held(self) -> np.ndarray:
        """[n] held tokens of every request: running, then waiting."""
        return np.concatenate([self.r_held, self.w_held])

    @functools.cached_property
    def owner(self) -> np.ndarray:
        """[n] resident prefix of every request (-1: none): running, then waiting."""
        return np.concatenate([self.r_prefix, self.w_prefix])

    @functools.cached_property
    def by_life(self) -> np.ndarray:
        """[S, n] every request (running, then waiting) by lifetime, ascending, in each scenario: the
        order of any batch is this one filtered (see `ordered`), so no batch is sorted again. Ties in any
        order: a batch's memory is read at the last of its tied lifetimes."""
        life = self.life
        if life.size and life.min() >= 0 and life.max() <= np.iinfo(np.uint16).max:
            life = life.astype(np.uint16)  # numpy's stable sort of 16-bit integers is a radix sort
        return np.argsort(life, axis=1, kind="stable")

    def ordered(self, member: np.ndarray) -> np.ndarray:
        """[S, m] the m requests of the bool mask `member` [n], by lifetime ascending in each scenario."""
        order = self.by_life
        return order[member[order]].reshape(order.shape[0], -1)


# the requests' numeric fields, in the row order of Columns.run / Columns.wait; None (optional) is nan
RUN_FIELDS = (
    "kv_tokens",
    "generated_tokens",
    "max_new_tokens",
    "priority",
    "predicted_output_tokens",
    "tpot_deadline_ms",
    "prefill_remaining_tokens",
    "prefix_tokens",
)
WAIT_FIELDS = (
    "prompt_tokens",
    "generated_tokens",
    "max_new_tokens",
    "priority",
    "predicted_output_tokens",
    "arrival_s",
    "ttft_deadline_s",
    "prefix_tokens",
)
_OPTIONAL = {"predicted_output_tokens", "tpot_deadline_ms", "ttft_deadline_s"}


@dataclass
class Columns:
    """The requests' fields as arrays: [8, nr] running and [8, nw] waiting in the order of RUN_FIELDS and
    WAIT_FIELDS; ids and prefix ids as lists."""

    run: np.ndarray
    wait: np.ndarray
    r_ids: list[str]
    w_ids: list[str]
    r_prefix: list[str | None]
    w_prefix: list[str | None]


def _table(items: Sequence[object], fields: tuple[str, ...]) -> np.ndarray:
    """Field by field: np.fromiter where a field is never None (the bulk of the cost at 10^3 requests)."""
    out = np.empty((len(fields), len(items)), dtype=np.float64)
    for k, name in enumerate(fields):
        if name in _OPTIONAL:
            values = list(map(attrgetter(name), items))
            missing = values.count(None)
            if missing == len(values):  # none given (the common case): no per-item conversion
                out[k] = np.nan
            elif missing:
                out[k] = np.array(values, dtype=np.float64)
            else:
                out[k] = np.fromiter(values, dtype=np.float64, count=len(items))
        else:
            out[k] = np.fromiter(map(attrgetter(name), items), dtype=np.float64, count=len(items))
    return out


def columns(inst: BatchingInstance) -> Columns:
    return Columns(
        _table(inst.running, RUN_FIELDS),
        _table(inst.waiting, WAIT_FIELDS),
        list(map(attrgetter("id"), inst.running)),
        list(map(attrgetter("id"), inst.waiting)),
        list(map(attrgetter("prefix_id"), inst.running)),
        list(map(attrgetter("prefix_id"), inst.waiting)),
    )


def rule_chunks(decoding: np.ndarray, pending: np.ndarray, budget: int) -> np.ndarray:
    """The contract's status quo: decodes first (one token each), then running prefills in admission
    order, each as much as is left of the budget."""
    left = budget - int(np.count_nonzero(decoding))
    out = np.zeros(len(pending), dtype=np.int64)
    for i in np.flatnonzero(~decoding).tolist():
        c = max(0, min(int(pending[i]), left))
        out[i] = c
        left -= c
    return out


def build(inst: BatchingInstance, cols: Columns | None = None) -> Problem:
    c = columns(inst) if cols is None else cols
    pol = inst.policy
    block = inst.block_tokens
    cap_blocks = inst.kv_capacity_tokens // block
    rate = max(1, inst.token_budget - inst.max_num_seqs)
    nr, nw = len(c.r_ids), len(c.w_ids)
    i64 = np.int64
    r_kv, r_gen, r_max, r_prio = (c.run[k].astype(i64) for k in range(4))
    r_pred = np.where(np.isnan(c.run[4]), -1, c.run[4]).astype(i64)
    r_tpot = ~np.isnan(c.run[5])
    r_pending = c.run[6].astype(i64)
    w_prompt, w_gen, w_max, w_prio = (c.wait[k].astype(i64) for k in range(4))
    w_pred = np.where(np.isnan(c.wait[4]), -1, c.wait[4]).astype(i64)
    arrival, deadline = c.wait[5], c.wait[6]
    now = inst.now_s if inst.now_s is not None else (float(arrival.max()) if nw else 0.0)
    s = pol.scenarios
    required = int(np.ceil(pol.guard_share * s - 1e-9))

    px_ids: list[str] = []
    px_index: dict[str, int] = {}
    px_tok: list[int] = []
    r_shared = c.r_prefix.count(None) < nr  # any resident shared prefix
    for i, x in enumerate(c.r_prefix if r_shared else ()):
        if x is not None and x not in px_index:
            px_index[x] = len(px_ids)
            px_ids.append(x)
            px_tok.append(int(c.run[7, i]))
    px_tokens = np.asarray(px_tok, dtype=i64)
    px_blocks = ceil_div(px_tokens, block)

    r_prefix = (
        np.asarray([px_index[x] if x is not None else -1 for x in c.r_prefix], dtype=i64).reshape(nr)
        if r_shared
        else np.full(nr, -1, dtype=i64)
    )
    r_own = r_kv - np.where(r_prefix >= 0, px_tokens[np.maximum(r_prefix, 0)] if len(px_tokens) else 0, 0)
    r_decoding = r_pending == 0
    r_chunk = rule_chunks(r_decoding, r_pending, inst.token_budget)
    r_weight = 1 + r_prio
    r_cost = np.rint(
        r_weight * POINTS * pol.preempt_cost * np.where(r_tpot, 2.0, 1.0)
        + pol.recompute_cost_per_token * r_kv
    ).astype(i64)

    w_prefix = (
        np.asarray([px_index.get(x, -1) if x is not None else -1 for x in c.w_prefix], dtype=i64).reshape(nw)
        if px_index
        else np.full(nw, -1, dtype=i64)
    )
    w_px_tok = np.where(w_prefix >= 0, px_tokens[np.maximum(w_prefix, 0)] if len(px_tokens) else 0, 0)
    w_work = w_prompt + w_gen - w_px_tok
    w_weight = 1 + w_prio
    has_deadline = ~np.isnan(deadline)
    slack = np.where(has_deadline, deadline - now, np.inf)
    late = has_deadline & (slack < 0)
    urgency = np.where(
        has_deadline & ~late,
        pol.urgency_bonus * np.clip(1.0 - slack / pol.urgency_horizon_s, 0.0, 1.0),
        0.0,
    )
    share = np.where(late, pol.late_value_share, 1.0 + urgency)
    w_value = np.rint(w_weight * POINTS * share).astype(i64)
    age = np.maximum(0.0, now - arrival)
    w_pen = np.rint(
        w_weight * (pol.skip_penalty + pol.skip_penalty_per_s * np.maximum(0.0, age - pol.skip_grace_s))
    ).astype(i64)
    order = np.lexsort((np.arange(nw), arrival)) if nw else np.zeros(0, dtype=np.int64)
    rank = np.empty(nw, dtype=np.int64)
    rank[order] = np.arange(nw)

    gen_all = np.concatenate([r_gen, w_gen])
    history = np.sort(np.asarray(inst.history_output_tokens, dtype=i64))
    lengths = draw(
        gen_all,
        np.concatenate([r_max, w_max]),
        np.concatenate([r_pred, w_pred]),
        history,
        s,
        pol.scenario_seed,
    )
    rem = lengths - gen_all
    life = rem.copy()
    life[:, :nr] += ceil_div(np.maximum(r_pending - r_chunk, 0), rate)
    life[:, nr:] += ceil_div(np.maximum(w_work - 1, 0), rate)

    p = Problem(
        inst=inst,
        block=block,
        cap_blocks=cap_blocks,
        cap=cap_blocks * block,
        seats=inst.max_num_seqs,
        budget=inst.token_budget,
        rate=rate,
        now=float(now),
        scenarios=s,
        allowed_violations=s - required,
        nr=nr,
        nw=nw,
        r_ids=c.r_ids,
        r_own=r_own,
        r_gen=r_gen,
        r_kv=r_kv,
        r_max=r_max,
        r_pending=r_pending,
        r_decoding=r_decoding,
        r_chunk=r_chunk,
        r_held=r_own + r_pending + (block - 1),
        r_weight=r_weight,
        r_cost=r_cost,
        r_prefix=r_prefix,
        w_ids=c.w_ids,
        w_work=w_work,
        w_prompt=w_prompt,
        w_gen=w_gen,
        w_max=w_max,
        w_held=w_work + (block - 1),
        w_blocks_full=ceil_div(w_work, block),
        w_delay=ceil_div(np.maximum(w_work - 1, 0), rate),
        w_weight=w_weight,
        w_value=w_value,
        w_pen=w_pen,
        w_prefix=w_prefix,
        w_late=late,
        order=order,
        rank=rank,
        px_ids=px_ids,
        px_tokens=px_tokens,
        px_held=px_blocks * block,
        px_blocks=px_blocks,
        lengths=lengths,
        life=life,
        base_peak=np.zeros(s, dtype=np.int64),
        allow=np.zeros(s, dtype=np.int64),
        eviction_per_1k=pol.eviction_cost_per_1k_tokens,
    )
    p.base_peak = batch_peaks(p, np.ones(nr, dtype=bool), np.zeros(0, dtype=np.int64))
    p.allow = np.maximum(0, p.base_peak - p.cap)
    return p


def batch_peaks(p: Problem, kept: np.ndarray, admitted: np.ndarray) -> np.ndarray:
    """[S] future peak (tokens) of the kept running and the admitted waiting requests, by the formula:
    sorted by lifetime, descending, the memory at the k-th lifetime b(k) is the held tokens of the first
    k plus b(k) times k; a shared prefix adds its tokens at every b(k) up to the lifetime of its
    longest-living holder (it is stored once and does not grow). The batch's order is a filter of the
    problem's (no sort)."""
    member = np.zeros(p.nr + p.nw, dtype=bool)
    member[: p.nr] = kept
    member[p.nr + np.asarray(admitted, dtype=np.int64)] = True
    m = int(member.sum())
    if m == 0:
        return np.zeros(p.scenarios, dtype=np.int64)
    idx = p.ordered(member)[:, ::-1]
    b = np.take_along_axis(p.life, idx, axis=1)
    mem = np.cumsum(p.held[idx], axis=1) + b * np.arange(1, m + 1)
    if len(p.px_ids):
        owners = np.where(member, p.owner, -1)
        for x in np.unique(owners[owners >= 0]).tolist():
            last = p.life[:, owners == x].max(axis=1)
            mem += np.where(b <= last[:, None], p.px_held[x], 0)
    return mem.max(axis=1)
