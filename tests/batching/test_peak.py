"""The peak formula (max over k of k * b(k) + held tokens of the k longest-remaining requests) equals a
step-by-step simulation of the batch's memory, on random batches; so do the checker's sweep, the
incremental grid of the heuristics and the prefix-aware batch peak."""

from __future__ import annotations

import numpy as np
import pytest

from solver.batching import FAMILY
from solver.batching import check as checker
from solver.batching.generate import tiny_step
from solver.batching.memory import Grid
from solver.batching.problem import batch_peaks
from tests.batching.peak_formula import peaks_of


def simulate_memory(held: np.ndarray, life: np.ndarray, grow: np.ndarray) -> int:
    """Step by step: at step t every item still alive (t <= life) holds held (+ t if it grows)."""
    peak = 0
    for t in range(1, int(life.max()) + 1):
        alive = life >= t
        peak = max(peak, int((held[alive] + t * grow[alive]).sum()))
    return peak


@pytest.mark.parametrize("seed", range(40))
def test_formula_equals_step_by_step_simulation(seed):
    rng = np.random.default_rng(seed)
    s, m = int(rng.integers(1, 4)), int(rng.integers(1, 30))
    held = rng.integers(0, 500, size=m)
    life = rng.integers(1, 60, size=(s, m))
    if seed % 3 == 0:  # ties
        life = rng.integers(1, 4, size=(s, m))
    grow = (rng.random(m) < 0.8).astype(np.int64)
    formula = peaks_of(held, life, grow)
    for k in range(s):
        assert formula[k] == simulate_memory(held, life[k], grow)


def test_formula_on_a_worked_example():
    # remaining 3, 2, 1 with held 10, 20, 30: step 1 holds 63, step 2: 34, step 3: 13
    held = np.array([30, 10, 20])
    life = np.array([[1, 3, 2]])
    assert peaks_of(held, life, np.ones(3, dtype=np.int64)).tolist() == [63]
    assert simulate_memory(held, life[0], np.ones(3, dtype=np.int64)) == 63


def _simulated_batch(p, kept, admitted):
    """The batch of a prepared step simulated step by step, prefixes held while any holder lives."""
    run = np.flatnonzero(kept)
    held = np.concatenate([p.r_held[run], p.w_held[admitted]])
    owner = np.concatenate([p.r_prefix[run], p.w_prefix[admitted]])
    out = []
    for s in range(p.scenarios):
        life = np.concatenate([p.life[s, run], p.life[s, p.nr + admitted]])
        peak = 0
        for t in range(1, int(life.max(initial=0)) + 1):
            alive = life >= t
            mem = int((held[alive] + t).sum())
            mem += sum(int(p.px_held[x]) for x in set(owner[alive & (owner >= 0)].tolist()))
            peak = max(peak, mem)
        out.append(peak)
    return out


@pytest.mark.parametrize("seed", range(30))
def test_batch_peak_checker_sweep_and_grid_agree_with_simulation(seed):
    inst = tiny_step(seed, running=4, waiting=5)
    p = FAMILY.prepare(inst)
    rng = np.random.default_rng(seed)
    kept = rng.random(p.nr) < 0.7
    admitted = np.flatnonzero(rng.random(p.nw) < 0.5)
    expected = _simulated_batch(p, kept, admitted)
    assert batch_peaks(p, kept, admitted).tolist() == expected
    grid = Grid(p, kept)
    for j in admitted.tolist():
        before = grid.peak_with(int(grid.item[j]))
        grid.add(int(grid.item[j]))
        assert before.tolist() == grid.peak().tolist()
    assert grid.peak().tolist() == expected
    # the checker's own sweep, from the instance: same numbers
    resident: dict[str, int] = {}
    for r in inst.running:
        if r.prefix_id is not None:
            resident.setdefault(r.prefix_id, len(resident))
    run = np.flatnonzero(kept)
    life = np.concatenate([p.life[:, run], p.life[:, p.nr + admitted]], axis=1)
    held = np.concatenate([p.r_held[run], p.w_held[admitted]])
    owner = np.asarray(
        [resident.get(inst.running[i].prefix_id, -1) for i in run.tolist()]
        + [resident.get(inst.waiting[j].prefix_id, -1) for j in admitted.tolist()],
        dtype=np.int64,
    )
    px_held = np.zeros(len(resident), dtype=np.int64)
    for r in inst.running:
        if r.prefix_id is not None:
            px_held[resident[r.prefix_id]] = -(-r.prefix_tokens // inst.block_tokens) * inst.block_tokens
    assert checker._sweep(life, held, owner, px_held).tolist() == expected
    # removing (preempting) restores the batch without that request
    if kept.any():
        i = int(np.flatnonzero(kept)[0])
        grid.remove(i)
        kept2 = kept.copy()
        kept2[i] = False
        assert grid.peak().tolist() == _simulated_batch(p, kept2, admitted)


@pytest.mark.parametrize("seed", range(20))
def test_prefix_peaks_equal_the_formula_on_each_head(seed):
    """LightLLM's loop reads the peaks of base + each head of a block of candidates from one sort."""
    from solver.batching.heuristic import _prefix_peaks

    rng = np.random.default_rng(seed)
    lists, base, k = int(rng.integers(1, 5)), int(rng.integers(0, 12)), int(rng.integers(1, 10))
    held = rng.integers(0, 500, size=base + k)
    life = rng.integers(1, 4 if seed % 3 == 0 else 60, size=(lists, base + k))  # ties, or not
    ones = np.ones(base + k, dtype=np.int64)
    expected = [
        peaks_of(held[: base + n], life[:, : base + n], ones[: base + n]).max() for n in range(1, k + 1)
    ]
    assert _prefix_peaks(held, life, base).tolist() == expected


def test_stratified_uniforms_of_any_subset_are_those_of_the_whole():
    """The scenario draw reads its stratified uniforms from a table kept per (seed, scenarios), grown as
    larger steps come: the values are those computed for the requests asked, whatever was asked before."""
    from solver.batching import scenarios

    scenarios._TABLES.clear()
    for seed, s in ((0, 8), (3, 5), (0, 1)):
        for cols in (np.arange(10), np.array([5, 700, 3]), np.arange(3000), np.array([2999, 0])):
            assert np.array_equal(scenarios.stratified(seed, s, cols), scenarios._stratified(seed, s, cols))
    big = np.array([0, scenarios._TABLE_COLUMNS + 5])
    assert np.array_equal(scenarios.stratified(1, 4, big), scenarios._stratified(1, 4, big))
    assert scenarios.stratified(1, 4, np.zeros(0, dtype=np.int64)).shape == (4, 0)
