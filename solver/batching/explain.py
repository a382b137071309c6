"""For every waiting request a plan leaves waiting, the limit that binds, with numbers; and every preemption.

Judged against the plan's batch: a seat, a token of budget, this step's KV blocks for its chunk, then the
future peak if it joined (in how many scenarios it would break the guard, the worst one); a request that
fits all of them was left out by the objective (its value, lateness, the penalties and costs).

The first INDIVIDUAL requests left waiting (in arrival order: the ones next in line) get an explanation
each; the rest, often a thousand under heavy load, one per binding limit, listing their ids and numbers in
`data`, so that explaining costs a fraction of the step's budget.
"""

from __future__ import annotations

from operator import itemgetter

import numpy as np

from models.batching import BatchingPlan
from models.common import Explanation
from solver.batching.heuristic import Step
from solver.batching.memory import Grid
from solver.batching.plans import from_plan
from solver.batching.problem import Problem, ceil_div

INDIVIDUAL = 32


def explain(p: Problem, plan: BatchingPlan) -> list[Explanation]:
    d = from_plan(p, plan)
    st = Step(p, d.kept, d.run_chunk)
    for j, c in zip(d.admit, d.chunks, strict=True):
        st.take(j, c)
    out: list[Explanation] = []
    for i in np.flatnonzero(~d.kept).tolist():
        out.append(
            Explanation.model_construct(
                item=p.r_ids[i],
                constraint="preempted",
                message=f"running request {p.r_ids[i]} is preempted and will recompute its "
                f"{int(p.r_own[i])} KV tokens later (cost {int(p.r_cost[i])} points)",
                data={"kv_tokens": int(p.r_own[i]), "cost": int(p.r_cost[i])},
            )
        )
    waiting = np.ones(p.nw, dtype=bool)
    waiting[np.asarray(d.admit, dtype=np.int64)] = False
    left = np.flatnonzero(waiting)
    if not len(left):
        return out
    left = left[np.argsort(p.rank[left], kind="stable")]
    if st.seats < 1:
        msg = f"the batch has all {p.seats} seats (max_num_seqs) taken"
        return out + _grouped(p, left, "seats", msg, {"max_num_seqs": p.seats})
    if st.budget < 1:
        msg = f"the token budget of {p.budget} is spent this step (decodes and prefill chunks)"
        return out + _grouped(p, left, "token_budget", msg, {"token_budget": p.budget})
    chunk = np.minimum(p.w_work[left], st.budget)
    x = p.w_prefix[left]
    extra = np.zeros(len(left), dtype=np.int64)
    if len(p.px_ids):
        extra = np.where((x >= 0) & (st.members[np.maximum(x, 0)] == 0), p.px_blocks[np.maximum(x, 0)], 0)
    need = ceil_div(chunk, p.block) + extra
    grid = Grid(p, d.kept)
    for j in d.admit:
        grid.add(int(grid.item[j]))
    rows = np.arange(p.scenarios)[:, None]
    pos = grid.pos[:, grid.item[left]]
    new_peak = np.maximum(grid.pm[rows, pos] + p.w_held[left][None, :], grid.sm[rows, pos + 1])
    for k, j in enumerate(left.tolist()):
        if p.w_prefix[j] >= 0:
            new_peak[:, k] = grid.peak_with(int(grid.item[j]))
    limit = np.maximum(p.cap, p.base_peak)
    over = new_peak > limit[:, None]
    failing = over.sum(axis=0)
    kv_now = need > st.free
    kv_peak = ~kv_now & p.guard & (failing > p.allowed_violations)
    rest = ~kv_now & ~kv_peak
    few = np.zeros(len(left), dtype=bool)
    few[:INDIVIDUAL] = True
    for kind, mask in (("kv_now", kv_now), ("kv_peak", kv_peak), ("objective", rest)):
        many = mask & ~few
        if many.any():
            ids = left[many]
            if kind == "kv_now":
                msg = f"their prefill chunks need more KV blocks this step than the {st.free} free"
                data = {"blocks_needed": need[many].tolist(), "blocks_free": st.free}
            elif kind == "kv_peak":
                worst = new_peak[:, many].max(axis=0)
                msg = (
                    f"admitting any of them would take the future peak over the limit in more than "
                    f"{p.allowed_violations} of {p.scenarios} scenarios"
                )
                data = {"peak_tokens": worst.tolist(), "limit_tokens": int(limit.max())}
            else:
                msg = "they fit every limit now, but admitting them does not raise the score"
                data = {"value": p.w_value[ids].tolist()}
            out.append(_group(p, ids, kind, msg, data))
    for k, j in enumerate(left[:INDIVIDUAL].tolist()):
        if need[k] > st.free:
            out.append(
                _one(
                    p,
                    j,
                    "kv_now",
                    f"its prefill chunk of {int(chunk[k])} tokens needs {int(need[k])} KV blocks this step; "
                    f"{st.free} of {p.cap_blocks} are free",
                    {"blocks_needed": int(need[k]), "blocks_free": st.free},
                )
            )
        elif p.guard and failing[k] > p.allowed_violations:
            s = int(np.argmax(new_peak[:, k] - limit))
            out.append(
                _one(
                    p,
                    j,
                    "kv_peak",
                    f"admitting it would take the future peak to {int(new_peak[s, k])} tokens (limit "
                    f"{int(limit[s])}) in {int(failing[k])} of {p.scenarios} scenarios; at most "
                    f"{p.allowed_violations} may exceed",
                    {
                        "peak_tokens": int(new_peak[s, k]),
                        "limit_tokens": int(limit[s]),
                        "scenarios_over": int(failing[k]),
                    },
                )
            )
        else:
            late = " (its TTFT deadline has passed)" if p.w_late[j] else ""
            out.append(
                _one(
                    p,
                    j,
                    "objective",
                    f"it fits every limit now, but admitting it does not raise the score: value "
                    f"{int(p.w_value[j])} points{late}, against the penalties for passing over earlier "
                    "arrivals, the expected overflow it adds, or the requests chosen instead",
                    {"value": int(p.w_value[j]), "late": bool(p.w_late[j])},
                )
            )
    return out


def _grouped(p: Problem, left: np.ndarray, constraint: str, why: str, data: dict) -> list[Explanation]:
    out = [_one(p, j, constraint, why, data) for j in left[:INDIVIDUAL].tolist()]
    if len(left) > INDIVIDUAL:
        out.append(_group(p, left[INDIVIDUAL:], constraint, why, data))
    return out


def _group(p: Problem, ids: np.ndarray, constraint: str, why: str, data: dict) -> Explanation:
    names = [p.w_ids[j] for j in ids.tolist()] if len(ids) < 2 else list(itemgetter(*ids.tolist())(p.w_ids))
    return Explanation.model_construct(
        item=f"{names[0]} and {len(names) - 1} more" if len(names) > 1 else names[0],
        constraint=constraint,
        message=f"{len(names)} more requests wait ({names[0]} first): {why}",
        data={"ids": names, **data},
    )


def _one(p: Problem, j: int, constraint: str, why: str, data: dict) -> Explanation:
    return Explanation.model_construct(
        item=p.w_ids[j], constraint=constraint, message=f"request {p.w_ids[j]} waits: {why}", data=data
    )
