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

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser, in place: a bijection of uint64 that scrambles every bit."""
    tmp = np.empty_like(x)
    for shift, factor in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB)):
        np.right_shift(x, np.uint64(shift), out=tmp)
        x ^= tmp
        x *= np.uint64(factor)
    np.right_shift(x, np.uint64(31), out=tmp)
    x ^= tmp
    return x


_M64 = (1 << 64) - 1


def _key(seed: int, stream: int) -> int:
    """_mix of seed * golden + stream, in Python integers (a scalar: cheaper than numpy's)."""
    x = (seed * int(_GOLDEN) + stream) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def uniforms(seed: int, streams: int, scenarios: int, columns: np.ndarray) -> np.ndarray:
    """[streams, S, len(columns)] uniforms in [0, 1) that depend only on (seed, stream, scenario, request
    index): any subset of the requests gets the same values as the whole (the checker draws only the
    batch)."""
    s = np.arange(scenarios, dtype=np.uint64)[:, None]
    c = np.asarray(columns, dtype=np.uint64)[None, :]
    with np.errstate(over="ignore"):
        base = (c * np.uint64(scenarios) + s + np.uint64(1)) * _GOLDEN
        x = np.empty((streams, *base.shape), dtype=np.uint64)
        for k in range(streams):
            np.add(base, np.uint64(_key(seed, k)), out=x[k])
        _mix(x)
    x >>= np.uint64(11)
    return x.astype(np.float64) * 2.0**-53


def _stratified(seed: int, scenarios: int, columns: np.ndarray) -> np.ndarray:
    """[S, len(columns)] per request, a shuffled order of the S slices plus a uniform within each slice,
    over S: stratified uniforms in [0, 1)."""
    u = uniforms(seed, 2, scenarios, columns)
    slices = np.argsort(u[0], axis=0)  # per request, a shuffled order of the S slices
    return (slices + u[1]) / scenarios


_TABLES: dict[tuple[int, int], np.ndarray] = {}  # (seed, S) -> stratified uniforms of requests 0..N-1
_TABLE_KEYS = 8
_TABLE_COLUMNS = 1 << 15  # beyond this, computed per call


def stratified(seed: int, scenarios: int, columns: np.ndarray) -> np.ndarray:
    """_stratified(seed, scenarios, columns), read from a table of the first requests' values kept per
    (seed, scenarios): each value depends only on (seed, scenario, request index), so any subset is read
    from the whole; the table grows by powers of two as larger steps come."""
    cols = np.asarray(columns, dtype=np.int64)
    top = int(cols.max()) + 1 if len(cols) else 0
    if top > _TABLE_COLUMNS:
        return _stratified(seed, scenarios, cols)
    key = (seed, scenarios)
    table = _TABLES.get(key)
    if table is None or table.shape[1] < top:
        size = max(1024, 1 << (top - 1).bit_length())
        table = _stratified(seed, scenarios, np.arange(size))
        if len(_TABLES) >= _TABLE_KEYS:
            _TABLES.clear()
        _TABLES[key] = table
    return table[:, cols]


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
    out[:] = max_new  # no prediction, no history above what was generated: the conservative reading
    known = predicted >= 0
    if len(history_sorted) and not known.all():
        start = np.searchsorted(history_sorted, generated, side="right")  # first value > generated
        count = len(history_sorted) - start
        ok = (count > 0) & ~known  # a prediction overrides the history
        if ok.any():
            every = bool(ok.all())
            sub = slice(None) if every else ok
            u = stratified(seed, s, cols[sub])
            start, count = start[sub], count[sub]
            pick = start + np.minimum((u * count).astype(np.int64), count - 1)
            out[:, sub] = np.minimum(history_sorted[pick], max_new[sub])
    if known.any():
        out[:, known] = np.clip(predicted[known], generated[known] + 1, max_new[known])
    return np.maximum(out, np.minimum(generated + 1, max_new))
