"""Bad input is an InvalidInstance naming the JSON path (relative to the request), never a status."""

from __future__ import annotations

import copy
from typing import Any

import pytest

import solver
from solver.engine.errors import InvalidInstance
from solver.parallelism.generate import issue_example, melange, request


def errors_of(inst: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(InvalidInstance) as exc:
        solver.solve(request(inst))
    return {e.path(): e.msg for e in exc.value.errors}


def edited(base: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(base)
    node = out
    for key in path[:-1]:
        node = node[key]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return out


CASES = [
    (("model",), "gpt-5", "instance.model", "unknown model preset (known: "),
    (("model",), {"n_layers": 2, "hidden": 64}, "instance.model.heads", "required without a preset"),
    (("model",), {"preset": "nope"}, "instance.model.preset", "unknown model preset"),
    (
        ("model",),
        {"preset": "llama-3-8b", "kv_heads": 5},
        "instance.model.kv_heads",
        "must divide heads (32)",
    ),
    (
        ("model",),
        {"preset": "mixtral-8x7b", "top_k": 9},
        "instance.model.top_k",
        "must be at most experts (8)",
    ),
    (("workload", "rate_rps"), 0, "instance.workload.rate_rps", "must be > 0 for objective min_cost"),
    (("workload", "prompt_tokens"), KeyError, "instance.workload.prompt_tokens", "required without buckets"),
    (("workload", "output_tokens_p90"), 3, "instance.workload.output_tokens_p90", "below the mean (128)"),
    (("workload", "slice_factor"), 2, "instance.workload.slice_factor", "only with buckets"),
    (("workload", "tpot_ms"), -1, "instance.workload.tpot_ms", "greater than 0"),
    (("inventory", 0, "gpu"), "B300", "instance.inventory[0].memory_gib", "required: 'B300' is not a preset"),
    (("inventory", 0, "count"), -3, "instance.inventory[0].count", "greater than or equal to 0"),
    (("inventory", 0, "typo"), 1, "instance.inventory[0].typo", "Extra inputs are not permitted"),
    (("objective",), "cheapest", "instance.objective", "Input should be 'min_cost', 'max_throughput' or"),
]


@pytest.mark.parametrize(("path", "value", "where", "words"), CASES)
def test_bad_input_names_the_field(path, value, where, words):
    got = errors_of(edited(issue_example(), path, value))
    assert where in got, got
    assert words in got[where], got[where]


def test_duplicate_pools_and_unlimited_max_throughput():
    inst = issue_example()
    inst["inventory"] = [inst["inventory"][0], {**inst["inventory"][0]}]
    got = errors_of(inst)
    assert got["instance.inventory[1].gpu"].startswith("duplicate pool name (also inventory[0])")
    inst = issue_example()
    inst["objective"] = "max_throughput"
    inst["inventory"][0]["count"] = None
    assert "max_throughput needs a limited inventory" in errors_of(inst)["instance.inventory[0].count"]


def test_measured_candidates_rules():
    inst = melange()
    inst["candidates"][0]["capacity_rps"] = [1, 2]
    inst["candidates"][1]["gpu"] = "H100"
    got = errors_of(inst)
    assert got["instance.candidates[0].capacity_rps"] == "has 2 numbers; expected 4 (one per bucket)"
    assert got["instance.candidates[1].gpu"].startswith("no pool of that name (pools: A10G, A100-80GB)")
    inst = melange()
    inst["candidates"][0]["tp"] = 3
    inst["objective"] = "min_latency"
    got = errors_of(inst)
    assert "power of two" in got["instance.candidates[0].tp"]
    assert "measured candidates give capacities only" in got["instance.objective"]
    inst = melange()
    inst["workload"]["buckets"][0]["share"] = 0.3
    assert "the shares add up to 1.1" in errors_of(inst)["instance.workload.buckets"]
    inst = melange()
    inst["candidates"].append(dict(inst["candidates"][0]))
    assert errors_of(inst)["instance.candidates[2]"] == "duplicate of candidates[0]"


def test_model_is_optional_only_with_candidates():
    inst = issue_example()
    del inst["model"]
    assert "required unless every configuration is a measured candidate" in errors_of(inst)["instance.model"]
    assert solver.solve(request(melange())).status == "optimal"
