"""Heterogeneous replica mixes: inventories of 1-4 GPU types and 8-1,024 GPUs.

For each model and workload, inventory (GPU types x total GPUs, split at random with a fixed seed) and a
rate at half of what the inventory can serve at the SLOs (its max_throughput optimum):
  - our plan's $/hour (min_cost, CP-SAT, 2 workers) and its status and wall time;
  - the vLLM rule's (smallest TP that fits a node, cheapest GPU first, replicated), measured in the same run;
  - the cheapest single-type plan: our optimizer on each GPU type of the inventory alone, the best of them
    (Mélange's comparison; it reports up to 77% savings);
  - the exhaustive search (solver.parallelism.bruteforce) on the same candidates: its time and whether it
    equals our plan; skipped for larger sizes once it ran out of time on a smaller one.
Plus Mélange's example (measured capacities). Target (issue 5): under 1 s for 4 types x 1,024 GPUs, and
equal to the brute force wherever it finishes.

    python -m benchmarks.parallelism_mix [--sizes 8,32,128,1024] [--bf-limit 10]
"""

from __future__ import annotations

import argparse
import copy
import time
from typing import Any

import solver
from benchmarks.common import table, write
from models.parallelism import ParallelismInstance
from solver.engine.budget import Deadline
from solver.parallelism import bruteforce
from solver.parallelism.generate import PRICES, chat_workload, melange, mixed_inventory
from solver.parallelism.heuristic import vllm_rule
from solver.parallelism.problem import RATE_SCALE, build

WORKERS = 2
TYPES = {
    1: ["H100-SXM"],
    2: ["A100-80GB", "H100-SXM"],
    3: ["L4", "A100-80GB", "H100-SXM"],
    4: ["L4", "A10G", "A100-80GB", "H100-SXM"],
}
# Mélange-like request sizes for the histogram workload: short/long prompts x short/long outputs
HISTOGRAM = [
    {"prompt_tokens": 128, "output_tokens": 64, "share": 0.4},
    {"prompt_tokens": 128, "output_tokens": 512, "share": 0.2},
    {"prompt_tokens": 2048, "output_tokens": 64, "share": 0.3},
    {"prompt_tokens": 2048, "output_tokens": 512, "share": 0.1},
]
WORKLOADS = {
    "Llama-3-8B chat": ("llama-3-8b", None),
    "Llama-3-70B chat": ("llama-3-70b", None),
    "Llama-3-8B histogram": ("llama-3-8b", HISTOGRAM),
}


def run(instance: dict[str, Any], limit: float, **options: Any) -> tuple[Any, float]:
    req = {
        "kind": "parallelism",
        "instance": instance,
        "options": {"time_limit_s": limit, "workers": WORKERS, **options},
    }
    t0 = time.monotonic()
    r = solver.solve(req, started=t0)
    return r, time.monotonic() - t0


def instance_for(
    model: str, buckets: list[dict] | None, types: list[str], gpus: int, seed: int
) -> dict[str, Any]:
    inst = mixed_inventory(model, types, gpus, rate_rps=1.0, seed=seed)
    if buckets is not None:
        w = chat_workload(1.0)
        inst["workload"] = {
            "rate_rps": 1.0,
            "buckets": buckets,
            "ttft_ms": w["ttft_ms"],
            "tpot_ms": w["tpot_ms"],
            "slice_factor": 1,
        }
    return inst


def cost(r: Any) -> float | None:
    return r.objective.get("cost_per_hour") if r.plan is not None and r.status != "infeasible" else None


def money(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def single_type(inst: dict[str, Any], limit: float) -> tuple[float | None, str]:
    best: tuple[float | None, str] = (None, "-")
    for pool in inst["inventory"]:
        alone = copy.deepcopy(inst)
        alone["inventory"] = [pool]
        r, _ = run(alone, limit)
        c = cost(r)
        if c is not None and (best[0] is None or c < best[0]):
            best = (c, pool["gpu"])
    return best


def vllm_reach(inst: dict[str, Any]) -> float:
    """The most the vLLM rule serves with the whole inventory (its plan when it cannot meet the rate)."""
    problem = build(ParallelismInstance.model_validate(inst))
    groups = vllm_rule(problem, Deadline(10.0))
    return round(sum(g.count * g.config.mix for g in groups) / RATE_SCALE, 2)


def brute(inst: dict[str, Any], limit: float) -> tuple[dict[str, float] | None, float, bool]:
    problem = build(ParallelismInstance.model_validate(inst))
    t0 = time.monotonic()
    try:
        res = bruteforce.solve(problem, time_limit_s=limit)
    except bruteforce.BruteForceTimeout:
        return None, time.monotonic() - t0, False
    return res.objective, time.monotonic() - t0, True


def mix_section(sizes: list[int], limit: float, bf_limit: float) -> tuple[str, list[str]]:
    rows = []
    notes = []
    for name, (model, buckets) in WORKLOADS.items():
        for k, types in TYPES.items():
            bf_gave_up = False
            for gpus in sizes:
                seed = 100 * k + gpus
                inst = instance_for(model, buckets, types, gpus, seed)
                top, _ = run({**inst, "objective": "max_throughput"}, limit)
                capacity = top.objective.get("throughput_rps", 0.0) if top.plan else 0.0
                if capacity <= 0:
                    rows.append([name, k, gpus, "-", "no configuration fits", *["-"] * 9])
                    continue
                inst["workload"]["rate_rps"] = round(capacity / 2, 2)
                r, wall = run(inst, limit)
                ours = cost(r)
                vllm = next((b for b in r.baselines if b.name == "vllm-rule"), None)
                vllm_cost = vllm.objective["cost_per_hour"] if vllm and vllm.feasible else None
                vllm_cell = (
                    money(vllm_cost)
                    if vllm_cost is not None
                    else f"cannot serve ({vllm_reach(inst):g} req/s)"
                )
                single, single_gpu = single_type(inst, limit)
                if bf_gave_up:
                    bf_cell, bf_time = "skipped", "-"
                else:
                    ref, bf_s, finished = brute(inst, bf_limit)
                    bf_time = f"{bf_s:.2f}" if finished else f">{bf_limit:g}"
                    if not finished:
                        bf_gave_up = True
                        bf_cell = "did not finish"
                    else:
                        equal = (ref is None and ours is None) or (ref == r.objective)
                        bf_cell = "equal" if equal else f"DIFFERS ({ref})"
                        if not equal:
                            notes.append(
                                f"{name}, {k} types, {gpus} GPUs: brute force {ref}, ours {r.objective}"
                            )
                rows.append(
                    [
                        name,
                        k,
                        gpus,
                        f"{inst['workload']['rate_rps']:g}",
                        money(ours),
                        vllm_cell,
                        f"{vllm_cost / ours:.2f}x" if vllm_cost and ours else "-",
                        f"{money(single)} ({single_gpu})" if single is not None else "none alone",
                        f"{100 * (1 - ours / single):.1f}%" if single and ours else "-",
                        f"{r.status} {r.stats.total_s:.3f}",
                        f"{wall:.3f}",
                        bf_time,
                        bf_cell,
                    ]
                )
                print(rows[-1], flush=True)
    header = [
        "workload",
        "GPU types",
        "GPUs",
        "rate (req/s)",
        "ours $/h",
        "vLLM rule $/h",
        "vLLM / ours",
        "cheapest single type $/h",
        "saving vs single type",
        "ours: status, total_s",
        "wall (s)",
        "brute force (s)",
        "brute force",
    ]
    return table(header, rows), notes


def melange_section(bf_limit: float) -> str:
    rows = []
    for label, inst in (
        ("Mélange example", melange()),
        ("A100-80GB only", {**melange(), "inventory": [{**melange()["inventory"][1]}]}),
        ("A10G only", {**melange(), "inventory": [{**melange()["inventory"][0]}]}),
    ):
        inst = copy.deepcopy(inst)
        inst["candidates"] = [
            c for c in inst["candidates"] if c["gpu"] in {p["gpu"] for p in inst["inventory"]}
        ]
        r, wall = run(inst, 2.0)
        ref, bf_s, _ = brute(inst, bf_limit)
        mix = ", ".join(f"{g.count} x {g.gpu}" for g in r.plan.replicas)
        rows.append(
            [
                label,
                money(cost(r)),
                mix,
                r.baseline.objective["cost_per_hour"],
                r.status,
                f"{wall:.3f}",
                f"{bf_s:.3f}",
                "equal" if ref == r.objective else f"DIFFERS ({ref})",
            ]
        )
    header = [
        "instance",
        "ours $/h",
        "mix",
        "vLLM rule $/h",
        "status",
        "wall (s)",
        "brute force (s)",
        "brute force",
    ]
    return table(header, rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="8,32,128,1024", help="total GPUs per inventory, comma-separated")
    ap.add_argument("--limit", type=float, default=10.0, help="time limit of each solve (s)")
    ap.add_argument("--bf-limit", type=float, default=10.0, help="time limit of each brute-force run (s)")
    args = ap.parse_args()
    t0 = time.monotonic()
    sizes = [int(x) for x in args.sizes.split(",")]
    mix, notes = mix_section(sizes, args.limit, args.bf_limit)
    prices = ", ".join(f"{g} ${p:.2f}" for g, p in PRICES.items())
    body = (
        f"## Mélange's example (measured capacities), CP-SAT, {WORKERS} workers\n\n"
        + melange_section(args.bf_limit)
        + f"\n\n## Mixed inventories (cost model), CP-SAT, {WORKERS} workers, min_cost\n\n"
        + "Chat workload: 1k-token prompts (p90 2k), 256-token outputs (p90 512); histogram: 4 buckets "
        "(128/2048 prompt x 64/512 output tokens, shares 0.4/0.2/0.3/0.1), each bucket whole to one "
        "configuration as in Mélange. SLOs TTFT 2 s, "
        f"TPOT 80 ms. Prices per GPU-hour: {prices}. The rate is half of the inventory's max_throughput at "
        "the SLOs. Time columns: ours = the solver's total_s (budget 10 s; proven optimal when it says so), "
        "wall = the call's wall clock, brute force = the exhaustive search on the same candidates.\n\n" + mix
    )
    if notes:
        body += "\n\nDifferences from the brute force:\n" + "\n".join(f"- {n}" for n in notes)
    body += f"\n\n(run took {time.monotonic() - t0:.0f} s)"
    write("parallelism_mix", "Parallelism: heterogeneous replica mixes", body)


if __name__ == "__main__":
    main()
