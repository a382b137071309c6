"""The issue's peak formula written out directly, the reference the solver's faster peak computations
(the batch peak, the grid, LightLLM's block peaks, the checker's sweep) are tested against."""

from __future__ import annotations

import numpy as np


def peaks_of(held: np.ndarray, life: np.ndarray, grow: np.ndarray) -> np.ndarray:
    """[S] max over k of held(top k) + b(k) * growing(top k), items sorted by lifetime descending."""
    s = life.shape[0]
    if life.shape[1] == 0:
        return np.zeros(s, dtype=np.int64)
    order = np.argsort(-life, axis=1, kind="stable")
    b = np.take_along_axis(life, order, axis=1)
    mem = np.cumsum(held[order], axis=1) + b * np.cumsum(grow[order], axis=1)
    return mem.max(axis=1)
