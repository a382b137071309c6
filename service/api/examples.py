"""Request bodies shown in the OpenAPI docs; the tests post them, so they stay valid."""

from __future__ import annotations

from typing import Any

PODS_EXAMPLE: dict[str, Any] = {
    "kind": "pods",
    "instance": {
        "nodes": [
            {"name": "node-a", "capacity": {"cpu_m": 4000, "memory_mib": 8192}},
            {"name": "node-b", "capacity": {"cpu_m": 4000, "memory_mib": 8192}, "labels": {"zone": "b"}},
        ],
        "pods": [
            {
                "name": "web-0",
                "group": "web",
                "requests": {"cpu_m": 1500, "memory_mib": 2048},
                "priority": 10,
                "node": "node-a",
            },
            {
                "name": "web-1",
                "group": "web",
                "requests": {"cpu_m": 1500, "memory_mib": 2048},
                "priority": 10,
            },
            {"name": "batch-0", "requests": {"cpu_m": 3000, "memory_mib": 4096}, "priority": 1},
        ],
    },
    "options": {"time_limit_s": 2.0, "engine": "auto", "workers": 1, "seed": 0},
}

WORKFLOW_EXAMPLE: dict[str, Any] = {
    "kind": "workflow",
    "instance": {
        "tasks": [
            {"id": "retrieve", "modes": [{"duration": 2, "demands": {"cpu": 4}}]},
            {
                "id": "draft-a",
                "modes": [{"duration": 3, "demands": {"h100": 2}}, {"duration": 7, "demands": {"l4": 2}}],
                "predecessors": [{"task": "retrieve"}],
            },
            {
                "id": "draft-b",
                "modes": [{"duration": 3, "demands": {"h100": 2}}, {"duration": 7, "demands": {"l4": 2}}],
                "predecessors": [{"task": "retrieve"}],
            },
            {
                "id": "judge",
                "modes": [{"duration": 2, "demands": {"h100": 1}}],
                "predecessors": [{"task": "draft-a"}, {"task": "draft-b"}],
                "due": 9,
                "weight": 3,
            },
            {"id": "nightly-eval", "modes": [{"duration": 4, "demands": {"h100": 2}}], "due": 6, "weight": 1},
        ],
        "resources": [
            {"name": "h100", "capacity": 2, "calendar": [{"start": 12, "end": 14, "capacity": 0}]},
            {"name": "l4", "capacity": 4},
            {"name": "cpu", "capacity": 8},
        ],
        "objective": "weighted_tardiness",
    },
    "options": {"time_limit_s": 2.0, "engine": "auto", "workers": 1, "seed": 0},
}

PARALLELISM_EXAMPLE: dict[str, Any] = {
    "kind": "parallelism",
    "instance": {
        "model": "llama-3-70b",
        "workload": {
            "rate_rps": 6.0,
            "prompt_tokens": 1024,
            "output_tokens": 256,
            "ttft_ms": 2000,
            "tpot_ms": 80,
        },
        "inventory": [
            {"gpu": "A100-80GB", "count": 16, "gpus_per_node": 8, "cost_per_hour": 3.67},
            {"gpu": "H100-SXM", "count": 8, "gpus_per_node": 8, "cost_per_hour": 6.5},
        ],
        "objective": "min_cost",
    },
    "options": {"time_limit_s": 2.0, "engine": "auto", "workers": 1, "seed": 0},
}

BATCHING_EXAMPLE: dict[str, Any] = {
    "kind": "batching",
    "instance": {
        "kv_capacity_tokens": 700,
        "block_tokens": 10,
        "max_num_seqs": 6,
        "token_budget": 400,
        "now_s": 10.0,
        "running": [
            {
                "id": "r0",
                "kv_tokens": 200,
                "generated_tokens": 10,
                "max_new_tokens": 100,
                "predicted_output_tokens": 40,
                "prefix_id": "sys",
                "prefix_tokens": 50,
            },
            {
                "id": "r1",
                "kv_tokens": 100,
                "generated_tokens": 0,
                "max_new_tokens": 50,
                "predicted_output_tokens": 20,
                "prefill_remaining_tokens": 60,
            },
        ],
        "waiting": [
            {
                "id": "w0",
                "prompt_tokens": 300,
                "max_new_tokens": 50,
                "arrival_s": 1.0,
                "predicted_output_tokens": 30,
            },
            {
                "id": "w1",
                "prompt_tokens": 120,
                "max_new_tokens": 50,
                "arrival_s": 2.0,
                "predicted_output_tokens": 10,
                "prefix_id": "sys",
                "prefix_tokens": 50,
                "ttft_deadline_s": 11.0,
            },
            {
                "id": "w2",
                "prompt_tokens": 90,
                "max_new_tokens": 80,
                "arrival_s": 3.0,
                "predicted_output_tokens": 60,
            },
            {
                "id": "w3",
                "prompt_tokens": 30,
                "max_new_tokens": 20,
                "arrival_s": 4.0,
                "predicted_output_tokens": 5,
                "priority": 2,
                "ttft_deadline_s": 9.0,
            },
        ],
        "policy": {"scenarios": 1},
    },
    "options": {"time_limit_s": 1.0, "engine": "auto", "workers": 1, "seed": 0},
}

PIPELINE_EXAMPLE: dict[str, Any] = {
    "kind": "pipeline",
    "instance": {
        "layers": [
            {
                "name": "vit-b-0",
                "time_ms": {"edge-a": 462.7, "edge-b": 370.9},
                "weight_bytes": 28110561,
                "activation_bytes": 9682944,
            },
            {
                "name": "vit-b-1",
                "time_ms": {"edge-a": 80.5, "edge-b": 65.5},
                "weight_bytes": 19847044,
                "activation_bytes": 4841472,
            },
            {
                "name": "vit-b-2",
                "time_ms": {"edge-a": 352.5, "edge-b": 282.2},
                "weight_bytes": 27775554,
                "activation_bytes": 24207360,
            },
            {
                "name": "vit-b-3",
                "time_ms": {"edge-a": 303.9, "edge-b": 238.2},
                "weight_bytes": 27187143,
                "activation_bytes": 4841472,
            },
            {
                "name": "vit-b-4",
                "time_ms": {"edge-a": 349.1, "edge-b": 269.7},
                "weight_bytes": 25469156,
                "activation_bytes": 9682944,
            },
            {
                "name": "vit-b-5",
                "time_ms": {"edge-a": 82.3, "edge-b": 64.5},
                "weight_bytes": 19838454,
                "activation_bytes": 4841472,
            },
            {
                "name": "vit-b-6",
                "time_ms": {"edge-a": 351.0, "edge-b": 281.8},
                "weight_bytes": 27839978,
                "activation_bytes": 24207360,
            },
            {
                "name": "vit-b-7",
                "time_ms": {"edge-a": 298.1, "edge-b": 239.0},
                "weight_bytes": 27114129,
                "activation_bytes": 4841472,
            },
        ],
        "devices": [
            {"name": "mb-0", "type": "edge-a", "memory_bytes": 67108864},
            {"name": "mb-1", "type": "edge-a", "memory_bytes": 67108864},
            {"name": "mb-2", "type": "edge-a", "memory_bytes": 67108864},
            {"name": "rcc-0", "type": "edge-b", "memory_bytes": 134217728},
        ],
        "network": {"bandwidth_gbps": 1.0, "latency_ms": 0.0},
        "mode": "inference",
        "objective": "throughput",
    },
    "options": {"time_limit_s": 1.0, "engine": "auto", "workers": 1, "seed": 0},
}

SOLVE_EXAMPLES: dict[str, dict[str, Any]] = {
    "pods": {
        "summary": "Pods: 2 nodes, 1 running and 2 pending pods",
        "description": "The default scheduler spreads web-1 onto node-b and strands batch-0; "
        "the optimal plan packs web-1 beside web-0 and places both.",
        "value": PODS_EXAMPLE,
    },
    "workflow": {
        "summary": "Workflow: an LLM agent DAG on H100 and L4 pools, with an H100 maintenance window",
        "description": "Two drafts run on 2 H100s (3 units) or 2 L4s (7); the judge is due at 9 (weight 3) "
        "and the nightly eval at 6. The proven optimum runs the eval first, one draft on the L4s, and the "
        "judge 2 late (weighted tardiness 6); the explanations say why.",
        "value": WORKFLOW_EXAMPLE,
    },
    "parallelism": {
        "summary": "Parallelism: Llama-3-70B at 6 req/s on A100-80GB and H100 nodes",
        "description": "vLLM's rule (smallest TP that fits, cheapest GPU first) replicates A100 TP2, whose "
        "KV cache holds few sequences; the optimal plan picks the TP and batch cap per GPU type that meet "
        "TTFT 2 s and TPOT 80 ms at the lowest $/hour.",
        "value": PARALLELISM_EXAMPLE,
    },
    "batching": {
        "summary": "Batching: one LLM scheduling step, 2 running and 4 waiting requests, 700 KV tokens",
        "description": "vLLM admits w0, first in line, because it fits the cache now; its growth would take "
        "the batch's peak to 747 tokens later (an eviction). The optimum keeps w0 waiting and admits w1 "
        "(reusing the shared prefix), w2 and w3 within the future peak (625 tokens): score 2990.",
        "value": BATCHING_EXAMPLE,
    },
    "pipeline": {
        "summary": "Pipeline: ViT-Base's first 8 layers on three Minnowboards and one RCC host",
        "description": "Each board holds two layers (64 MiB), the RCC four. PipeEdge's DP over device types "
        "and the exact search agree on a bottleneck of 649.1 ms (1.54 microbatches/s), proven optimal; "
        "PipeDream, planning for one device type, reaches 656.4 ms and the greedy split 653.0 ms.",
        "value": PIPELINE_EXAMPLE,
    },
}
