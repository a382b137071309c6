"""The output-length scenarios of a step: part of the contract, shared by the optimizer and the checker.

The guard on future memory is defined over these draws, so the checker must see the same ones: this
module is the definition (like the instance model), not a formulation. Per request, its total output
length L in each of S scenarios:
  - a point prediction `predicted_output_tokens`: L = that, at least one more than already generated,
    in every scenario;
  - otherwise, with a history window of finished output lengths: the history values above what the
    request has generated so far (it is still running, so its length exceeds that: the Past-Future
    method's conditioning), drawn by stratified sampling (scenario s takes a value from the s-th of S
    equal-probability slices of that conditional distribution, slices shuffled per request, so each
    request's draws cover its distribution evenly and the joint draws stay independent);
  - with no history value above it (or no history at all): max_new_tokens, the conservative reading.
L never exceeds max_new_tokens. Requests are numbered running first, then waiting, in instance order; the
draw depends only on the instance (lengths, history, policy.scenarios and policy.scenario_seed).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from models.batching import BatchingInstance, RunningRequest, WaitingRequest


def output_lengths(inst: BatchingInstance) -> np.ndarray:
    """[S, n] total output tokens of every request (running, then waiting) in every scenario."""
    reqs: list[RunningRequest | WaitingRequest] = [*inst.running, *inst.waiting]
    n = len(reqs)
    generated = np.fromiter((r.generated_tokens for r in reqs), dtype=np.int64, count=n)
    max_new = np.fromiter((r.max_new_tokens for r in reqs), dtype=np.int64, count=n)
    predicted = np.fromiter(
        (-1 if r.predicted_output_tokens is None else r.predicted_output_tokens for r in reqs),
        dtype=np.int64,
        count=n,
    )
    history = np.sort(np.asarray(inst.history_output_tokens, dtype=np.int64))
    return draw(generated, max_new, predicted, history, inst.policy.scenarios, inst.policy.scenario_seed)


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: Any) -> Any:
    """SplitMix64's finaliser: a bijection of uint64 that scrambles every bit."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def uniforms(seed: int, stream: int, scenarios: int, columns: np.ndarray) -> np.ndarray:
    """[S, len(columns)] uniforms in [0, 1) that depend only on (seed, stream, scenario, request index):
    any subset of the requests gets the same values as the whole (the checker draws only the batch)."""
    s = np.arange(scenarios, dtype=np.uint64)[:, None]
    c = np.asarray(columns, dtype=np.uint64)[None, :]
    with np.errstate(over="ignore"):
        key = _mix(np.uint64(seed) * _GOLDEN + np.uint64(stream))
        x = _mix(key + (c * np.uint64(scenarios) + s + np.uint64(1)) * _GOLDEN)
    return (x >> np.uint64(11)).astype(np.float64) * 2.0**-53


def draw(
    generated: np.ndarray,
    max_new: np.ndarray,
    predicted: np.ndarray,
    history_sorted: np.ndarray,
    scenarios: int,
    seed: int,
    columns: np.ndarray | None = None,
) -> np.ndarray:
    """[S, len(generated)]: the draws of the requests `columns` of the instance (default: all, in order;
    running then waiting); the arrays describe those requests only."""
    n = len(generated)
    cols = np.arange(n) if columns is None else np.asarray(columns)
    s = scenarios
    out = np.empty((s, n), dtype=np.int64)
    floor = generated + 1
    out[:] = max_new  # no prediction, no history above what was generated: the conservative reading
    if len(history_sorted) and n:
        slices = np.argsort(
            uniforms(seed, 0, s, cols), axis=0
        )  # per request, a shuffled order of the S slices
        u = (slices + uniforms(seed, 1, s, cols)) / s  # stratified uniforms in [0, 1)
        start = np.searchsorted(history_sorted, generated, side="right")  # first value > generated
        count = len(history_sorted) - start
        ok = count > 0
        if ok.any():
            pick = start[ok] + np.minimum((u[:, ok] * count[ok]).astype(np.int64), count[ok] - 1)
            out[:, ok] = np.minimum(history_sorted[pick], max_new[ok])
    known = predicted >= 0
    if known.any():
        out[:, known] = np.clip(predicted[known], floor[known], max_new[known])
    return np.maximum(out, np.minimum(floor, max_new))
