"""The admission policies users run today, emulated on one step, and our guarded greedy.

- vLLM V1 (FCFS): running requests first; when this step's KV blocks, seats or token budget do not
  suffice, preempt the last running request (recompute) until they do. Then the waiting queue in arrival
  order, each with a chunk of min(its prefill, budget left), stopping at the first request whose blocks
  do not fit now. No look-ahead: decoding requests later overflow and are preempted.
- LightLLM conservative (ReqQueue of the continuous-batch router): the same mechanics, but a request is
  admitted only if the batch's peak with every request at its max_new_tokens stays below the capacity
  (the sorted-remaining formula); never evicts, queues long.
- Past-Future (LightLLM PastFutureQueue): the peak in a few sampled scenarios, worst one must fit: a
  running request's length drawn between what it has generated and max_new_tokens by interpolating the
  history values above it, a new request's drawn from the history window; min(5, 200 // batch + 1) lists.
- guarded greedy (ours, the exact engines' hint): the instance's guard (peak within capacity in
  policy.guard_share of its scenarios) and objective: optional preemption where the running requests alone
  overflow, then admission by marginal score in two orders (arrival; value per share of the token
  budget, seats and future memory it takes), skipping requests that do not fit rather than stopping;
  the better of the two. A run of consecutive admissible requests is admitted in one grid update when
  together they keep the guard and add no overflow (the same plan as one by one, at a fraction of the
  cost: ~3 ms per decision at 1,000 waiting and 256 running).

All of them keep this step within the KV blocks, seats and token budget; running requests still in
prefill keep their chunks (decodes are reserved one token each, then prefills in order: the contract's
rule), close to vLLM V1, which serves running requests before waiting ones.
"""

from __future__ import annotations

import numpy as np

from solver.batching.memory import Grid
from solver.batching.plans import Decision, passed_over
from solver.batching.problem import Problem
from solver.engine.budget import Deadline

PF_WINDOW = 200  # LightLLM PastFutureQueue.WINDOW_SIZE
PF_MIN_SAMPLES = 200
PF_MAX_LISTS = 5
MAX_TRIES = 128  # candidates the guarded greedy examines per order
LIGHTLLM_BLOCK = 32  # at most, candidates whose peaks LightLLM's loop computes together


class Step:
    """This step's physical state: kept running, admitted waiting, seats, token budget and KV blocks."""

    def __init__(self, p: Problem, kept: np.ndarray, run_chunk: np.ndarray):
        self.p = p
        self.kept = kept
        self.run_chunk = run_chunk
        self.admit: list[int] = []
        self.chunks: list[int] = []
        self.seats = p.seats - int(kept.sum())
        self.budget = p.budget - int(np.count_nonzero(kept & p.r_decoding)) - int(run_chunk[kept].sum())
        self.members = np.bincount(p.r_prefix[kept & (p.r_prefix >= 0)], minlength=len(p.px_ids))
        self.free = (
            p.cap_blocks - int(p.run_blocks(run_chunk)[kept].sum()) - int(p.px_blocks[self.members > 0].sum())
        )

    def copy(self) -> Step:
        other = Step.__new__(Step)
        other.__dict__.update(self.__dict__)
        other.admit, other.chunks, other.members = list(self.admit), list(self.chunks), self.members.copy()
        return other

    def fits(self, j: int) -> tuple[bool, int, str]:
        """Whether waiting j fits this step, its chunk, and the binding limit when it does not."""
        p = self.p
        if self.seats < 1:
            return False, 0, "seats"
        if self.budget < 1:
            return False, 0, "token_budget"
        chunk = min(int(p.w_work[j]), self.budget)
        x = int(p.w_prefix[j])
        need = -(-chunk // p.block) + (int(p.px_blocks[x]) if x >= 0 and self.members[x] == 0 else 0)
        if need > self.free:
            return False, chunk, "kv_now"
        return True, chunk, ""

    def take(self, j: int, chunk: int) -> None:
        p = self.p
        x = int(p.w_prefix[j])
        shared = int(p.px_blocks[x]) if x >= 0 and self.members[x] == 0 else 0
        self.free -= -(-int(chunk) // p.block) + shared
        if x >= 0:
            self.members[x] += 1
        self.seats -= 1
        self.budget -= chunk
        self.admit.append(j)
        self.chunks.append(chunk)

    def decision(self, notes: list[str] | None = None) -> Decision:
        return Decision(
            list(self.admit), list(self.chunks), self.kept.copy(), self.run_chunk.copy(), notes or []
        )


def fit_running(p: Problem, allow_preempt: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """vLLM's running pass: the longest head of the running list whose step fits the seats, the token
    budget (a token per decode, then the prefill chunks) and the KV blocks; the rest is preempted, last
    first. Running prefills keep their status-quo chunks (the contract's rule)."""
    step_blocks = p.run_blocks(p.r_chunk)
    step_tokens = np.where(p.r_decoding, 1, p.r_chunk)
    k = p.nr
    while True:
        kept = np.zeros(p.nr, dtype=bool)
        kept[:k] = True
        members = p.r_prefix[:k][p.r_prefix[:k] >= 0]
        blocks = int(step_blocks[:k].sum()) + int(p.px_blocks[np.unique(members)].sum())
        fits = k <= p.seats and int(step_tokens[:k].sum()) <= p.budget and blocks <= p.cap_blocks
        if fits or k == 0 or not allow_preempt:
            return kept, np.where(kept, p.r_chunk, 0)
        k -= 1


def vllm_v1(p: Problem, deadline: Deadline | None = None) -> Decision:
    kept, chunk = fit_running(p, p.inst.policy.allow_preempt)
    st = Step(p, kept, chunk)
    for j in p.order.tolist():
        ok, c, _ = st.fits(j)
        if not ok:
            break
        st.take(j, c)
    return st.decision()


def _lightllm(p: Problem, held_run: np.ndarray, left_run: np.ndarray, new_left: np.ndarray) -> Decision:
    """LightLLM's admission loop on its lists of scenarios: [L, nr] remaining tokens of the running
    requests, [L, nw] of the waiting ones; admit in arrival order while the worst list's peak stays below
    the capacity (and the step fits), stop at the first that does not. The peaks of a block of the next
    candidates that fit now (8, then twice as many, up to LIGHTLLM_BLOCK) are computed together (one
    sort), each with those before it."""
    kept, chunk = fit_running(p, p.inst.policy.allow_preempt)
    st = Step(p, kept, chunk)
    idx = np.flatnonzero(kept)
    held = held_run[idx]
    left = left_run[:, idx]
    w_held = p.w_work + np.where(
        p.w_prefix >= 0, p.px_tokens[np.maximum(p.w_prefix, 0)] if len(p.px_ids) else 0, 0
    )
    order = p.order.tolist()
    at, size = 0, 8
    while at < len(order):
        trial = st.copy()  # to try the block on
        block: list[tuple[int, int]] = []
        for j in order[at : at + size]:
            ok, c, _ = trial.fits(j)
            if not ok:
                break
            trial.take(j, c)
            block.append((j, c))
        if not block:
            break
        js = np.asarray([j for j, _ in block], dtype=np.int64)
        h = np.concatenate([held, w_held[js]])
        lf = np.concatenate([left, new_left[:, js]], axis=1)
        under = _prefix_peaks(h, lf, len(held)) < p.cap
        n_ok = len(block) if under.all() else int(np.argmin(under))
        for j, c in block[:n_ok]:
            st.take(j, c)
        held, left = h[: len(held) + n_ok], lf[:, : len(held) + n_ok]
        if n_ok < len(block) or len(block) < size:
            break
        at, size = at + n_ok, min(2 * size, LIGHTLLM_BLOCK)
    return st.decision()


def _prefix_peaks(held: np.ndarray, life: np.ndarray, base: int) -> np.ndarray:
    """[K] the peak formula (every item growing, the worst list) of the first `base` items with the next k of
    the K after them, for k = 1..K: one sort; an item left out adds nothing where it sorts, and the
    memory read at its lifetime is the batch's memory then (at most the peak)."""
    n = life.shape[1]
    k = n - base
    order = np.argsort(-life, axis=1, kind="stable")
    b = np.take_along_axis(life, order, axis=1)
    include = np.ones((k, n), dtype=bool)
    include[:, base:] = np.arange(k)[None, :] <= np.arange(k)[:, None]
    inc = include[:, order]  # [K, L, n]
    mem = np.cumsum(held[order] * inc, axis=2) + b * np.cumsum(inc, axis=2)
    return mem.max(axis=2).max(axis=1)


def _run_tokens(p: Problem) -> np.ndarray:
    """LightLLM counts a running request's whole sequence: its KV (prefix included) and what is left of
    its prompt."""
    return p.r_kv + p.r_pending


def lightllm_conservative(p: Problem, deadline: Deadline | None = None) -> Decision:
    left_run = np.maximum(p.r_max - p.r_gen, 1)[None, :]
    return _lightllm(p, _run_tokens(p), left_run, np.maximum(p.w_max - p.w_gen, 1)[None, :])


def past_future(p: Problem, deadline: Deadline | None = None) -> Decision:
    """LightLLM's PastFutureQueue: a running request's length is drawn uniformly along the interpolated
    sequence [generated, history values above it..., max_new_tokens]; a new request's from the window."""
    rng = np.random.default_rng(p.inst.policy.scenario_seed)
    r_max, w_max, w_gen = p.r_max, p.w_max, p.w_gen
    history = np.asarray(p.inst.history_output_tokens[-PF_WINDOW:], dtype=np.int64)
    his = np.sort(history)
    lists = min(PF_MAX_LISTS, PF_MIN_SAMPLES // p.nr + 1) if p.nr else 1
    dl = p.r_gen
    pos = np.searchsorted(his, dl, side="right")
    m = len(his) - pos + 2  # the sequence: dl, his[pos:], max_new
    x = rng.random((lists, p.nr)) * (m - 1)
    lo = np.minimum(x.astype(np.int64), m - 2)

    def at(k: np.ndarray) -> np.ndarray:
        inner = his[np.clip(pos + k - 1, 0, max(len(his) - 1, 0))] if len(his) else np.zeros_like(k)
        return np.where(k == 0, dl, np.where(k >= m - 1, r_max, inner))

    a, b = at(lo), at(lo + 1)
    sampled = np.rint(a + (b - a) * (x - lo)).astype(np.int64)
    left_run = np.maximum(0, np.minimum(sampled, r_max) - dl)
    if len(history):
        drawn = history[rng.integers(len(history), size=(lists, p.nw))]
    else:
        drawn = np.broadcast_to(w_max, (lists, p.nw))
    new_left = np.maximum(1, np.minimum(drawn, w_max) - w_gen)
    return _lightllm(p, _run_tokens(p), left_run, new_left)


def _max_value(p: Problem, kept: np.ndarray, chunk: np.ndarray) -> float:
    """The most value one step can admit: the largest values, as many as the seats and the token budget
    allow (the smallest prefills, one of them partial)."""
    budget = p.budget - int(np.count_nonzero(kept & p.r_decoding)) - int(chunk[kept].sum())
    # (stable sorts: the values have many ties, which numpy's default sort is slow on)
    count = int(np.searchsorted(np.cumsum(np.sort(p.w_work, kind="stable")), budget, side="right")) + 1
    count = max(0, min(count, p.seats - int(kept.sum()), p.nw))
    return float(np.sort(p.w_value, kind="stable")[::-1][:count].sum())


def value_density(p: Problem, kept: np.ndarray, chunk: np.ndarray) -> np.ndarray:
    """Value per unit of what a request takes, each resource as a share of what is left of it: the token
    budget (its prefill), the seats, and the future memory (its held tokens plus its expected lifetime,
    against the room under the capacity at the running requests' peak). The multi-dimensional knapsack's
    classic greedy weight: whichever resource binds weighs the most."""
    budget = max(1, p.budget - int(np.count_nonzero(kept & p.r_decoding)) - int(chunk[kept].sum()))
    seats = max(1, p.seats - int(kept.sum()))
    room = max(1.0, float(p.cap - p.base_peak.mean()))
    footprint = p.w_held + p.life[:, p.nr :].mean(axis=0)
    size = np.minimum(p.w_work, budget) / budget + 1.0 / seats + footprint / room
    return p.w_value / size


def guarded_greedy(p: Problem, deadline: Deadline | None = None) -> Decision:
    allow_preempt = p.inst.policy.allow_preempt
    kept, chunk = fit_running(p, allow_preempt)
    density = value_density(p, kept, chunk)
    by_density = np.lexsort((p.rank, -density)) if p.nw else p.order
    # a request whose admission passes over more penalty than the most the step can admit is worth can
    # only lower the score in this order: leave it out (deep queues, where the arrival order wins anyway)
    most = _max_value(p, kept, chunk)
    passing = np.concatenate([[0], np.cumsum(p.w_pen[p.order])])[p.rank[by_density]]
    orders = {
        "arrival": p.order[:MAX_TRIES],
        "density": by_density[passing <= most][:MAX_TRIES],
    }
    pool = np.unique(np.concatenate(list(orders.values())))
    grid = Grid(p, kept, pool)
    cost_per_token = p.eviction_per_1k / 1000.0 / p.scenarios
    notes = []
    if not kept.all():
        notes.append(f"preempted {int((~kept).sum())} running request(s) for this step's limits")
    # optional preemption: where the running requests alone overflow, trade the expected eviction cost
    if allow_preempt and p.inst.policy.max_preempt_candidates and (grid.peak() > p.cap).any():
        while True:
            alive = np.flatnonzero(kept)[::-1][: p.inst.policy.max_preempt_candidates]
            before = np.maximum(grid.peak() - p.cap, 0).sum()
            best, gain = -1, 0.0
            for i in alive.tolist():
                after = np.maximum(grid.peak_without(i) - p.cap, 0).sum()
                g = (before - after) * cost_per_token - float(p.r_cost[i])
                if g > gain:
                    best, gain = i, g
            if best < 0:
                break
            grid.remove(best)
            kept[best] = False
            chunk[best] = 0
    best_d: Decision | None = None
    best_score = -np.inf
    for name, order in orders.items():
        # in the density order, passing over earlier arrivals is a cost shared by every later admission:
        # charged to the first one it would stop the jump that pays; the plan's real score decides
        penalties = name == "arrival"
        g = grid.copy()
        d = _greedy(p, Step(p, kept.copy(), chunk.copy()), g, order, cost_per_token, penalties)
        d.notes = [*notes, f"order: {name}"]
        score = _score(p, d, g.peak())
        if score > best_score + 1e-9:
            best_d, best_score = d, score
        if deadline is not None and deadline.expired():
            break
    assert best_d is not None
    return best_d


def _score(p: Problem, d: Decision, peak: np.ndarray) -> float:
    """The plan's score, its peaks read from the grid it was built on (what plans.breakdown computes)."""
    admit = np.asarray(d.admit, dtype=np.int64)
    skip = p.w_pen[passed_over(p, d.admit)].sum()
    overflow = np.maximum(peak - p.cap, 0).sum() / p.scenarios
    return float(
        p.w_value[admit].sum() - skip - p.r_cost[~d.kept].sum() - p.eviction_per_1k * overflow / 1000.0
    )


def _greedy(
    p: Problem, st: Step, grid: Grid, order: np.ndarray, cost_per_token: float, penalties: bool = True
) -> Decision:
    """One pass in `order`: admit each request that fits this step and the guard and raises the score;
    pass over the others (they cannot fit later: the batch only fills up). The candidates' fixed data
    are gathered once; each round evaluates every candidate left against the grid at once and admits
    the first that gains (with the run of gaining ones behind it, when they can join together)."""
    limit = np.maximum(p.cap, p.base_peak)[:, None]
    cum_pen = np.concatenate([[0], np.cumsum(p.w_pen[p.order])])
    pool = order[:MAX_TRIES]
    work, held, value = p.w_work[pool], p.w_held[pool][None, :], p.w_value[pool]
    prefix, rank, pen = p.w_prefix[pool], p.rank[pool], p.w_pen[pool]
    pos = grid.pos[:, grid.item[pool]]
    has_prefix = len(p.px_ids) > 0
    rows = np.arange(p.scenarios)[:, None]
    latest = -1  # largest arrival rank admitted
    overflow = float(np.maximum(grid.peak() - p.cap, 0).sum())
    at = 0
    while at < len(pool) and st.seats >= 1 and st.budget >= 1:
        cut = slice(at, None)
        chunk = np.minimum(work[cut], st.budget)
        need = -(-chunk // p.block)
        x = prefix[cut]
        if has_prefix:
            xs = np.maximum(x, 0)
            need = need + np.where((x >= 0) & (st.members[xs] == 0), p.px_blocks[xs], 0)
        q = pos[:, cut]
        # exact for a request without a shared prefix; for one with, a lower bound (its prefix may have
        # to outlive its other holders), made exact below where it matters
        new_peak = np.maximum(grid.pm[rows, q] + held[:, cut], grid.sm[rows, q + 1])
        r = rank[cut]
        base_gain = value[cut]
        if penalties:
            base_gain = base_gain - np.where(r > latest, cum_pen[r] - cum_pen[latest + 1], -pen[cut])
        fits = need <= st.free

        def gains(
            peak: np.ndarray, base: np.ndarray, overflow: float = overflow
        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            over = np.maximum(peak - p.cap, 0).sum(axis=0)
            ok = (peak > limit).sum(axis=0) <= p.allowed_violations
            return ok, over, base - (over - overflow) * cost_per_token

        ok, new_overflow, gain = gains(new_peak, base_gain)
        hit = fits & ok & (gain > 0)
        k = -1
        for u in np.flatnonzero(hit).tolist():
            if x[u] < 0:
                k = u
                break
            exact = grid.peak_with(int(grid.item[pool[at + u]]))[:, None]
            ok_u, over_u, gain_u = gains(exact, base_gain[u : u + 1])
            new_peak[:, u], new_overflow[u] = exact[:, 0], over_u[0]
            if ok_u[0] and gain_u[0] > 0:
                k = u
                break
            hit[u] = False
        if k < 0:
            break
        # the run behind k: admitted one by one, each would be next in line with no penalty left to
        # pay (the arrival pass's skip penalty is 0 behind the previous member), so each joins as long
        # as the batch keeps the guard and adds no overflow; the longest such head joins at once
        joinable = value[cut] > 0
        if penalties:
            joinable &= np.concatenate([[True], r[1:] == r[:-1] + 1])
        joinable[k] = True
        run = _run_of_hits(p, st, joinable, x, work[cut], k)
        if len(run) > 1:
            items = [int(grid.item[pool[at + u]]) for u, _ in run]

            def keeps(m: np.ndarray, overflow: float = overflow) -> bool:
                peak = m.max(axis=1)
                return bool(
                    (peak > limit[:, 0]).sum() <= p.allowed_violations
                    and (cost_per_token == 0 or np.maximum(peak - p.cap, 0).sum() == overflow)
                )

            v, m = grid.longest_joining(items, keeps)
            if v > 1:
                grid.add_memory(items[:v], m)
                for u, c in run[:v]:
                    st.take(int(pool[at + u]), c)
                latest = max(latest, int(r[: run[v - 1][0] + 1].max()))
                overflow = float(np.maximum(grid.peak() - p.cap, 0).sum())
                at += run[v - 1][0] + 1
                continue
        j = int(pool[at + k])
        grid.add(int(grid.item[j]))
        st.take(j, int(chunk[k]))
        latest = max(latest, int(r[k]))
        overflow = float(new_overflow[k])
        at += k + 1
    return st.decision()


def _run_of_hits(
    p: Problem, st: Step, joinable: np.ndarray, prefix: np.ndarray, work: np.ndarray, k: int
) -> list[tuple[int, int]]:
    """The consecutive joinable candidates from k (position, chunk) that fit this step one after
    another, none holding a shared prefix. Admitting them one by one would take each of them in turn as
    long as the batch adds no overflow and keeps the guard (both monotone in the batch), which the caller
    checks for every head of the run."""
    budget, free, seats = st.budget, st.free, st.seats
    out: list[tuple[int, int]] = []
    for u in range(k, len(joinable)):
        if not joinable[u] or prefix[u] >= 0:
            break
        c = int(min(work[u], budget))
        blocks = -(-c // p.block)
        if seats < 1 or c < 1 or blocks > free:
            break
        out.append((u, c))
        budget, free, seats = budget - c, free - blocks, seats - 1
    return out


HEURISTICS = {
    "vllm-v1-fcfs": vllm_v1,
    "lightllm-conservative": lightllm_conservative,
    "past-future": past_future,
    "guarded-greedy": guarded_greedy,
}
