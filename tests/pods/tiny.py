"""Seeded tiny pods instances exercising every rule: taints, selectors, affinity, anti-affinity,
GPU devices and shares, running and protected pods, eviction and move policies."""

from __future__ import annotations

import random

from models.pods import PodsInstance


def tiny_instance(seed: int, max_pods: int = 6) -> PodsInstance:
    rng = random.Random(seed)
    nodes = []
    for i in range(rng.randint(2, 3)):
        node = {
            "name": f"n{i}",
            "capacity": {"cpu_m": rng.choice([2000, 3000, 4000]), "memory_mib": rng.choice([2048, 4096])},
            "labels": {"zone": rng.choice(["a", "b"])},
        }
        gpus = rng.choice([0, 0, 1, 2])
        if gpus:
            node["capacity"]["gpu"] = gpus
            node["labels"]["gpu.model"] = rng.choice(["T4", "V100"])
        if rng.random() < 0.25:
            node["taints"] = [
                {"key": "dedicated", "value": "x", "effect": rng.choice(["NoSchedule", "NoExecute"])}
            ]
        if rng.random() < 0.1:
            node["unschedulable"] = True
        nodes.append(node)
    pods = []
    for j in range(rng.randint(3, max_pods)):
        pod = {
            "name": f"p{j}",
            "requests": {
                "cpu_m": rng.choice([500, 1000, 1500, 2000]),
                "memory_mib": rng.choice([512, 1024, 2048]),
            },
            "priority": rng.choice([1, 2, 3]),
        }
        r = rng.random()
        if r < 0.15:
            pod["requests"]["gpu"] = 1
        elif r < 0.3:
            pod["gpu_milli"] = rng.choice([300, 500, 700])
        if rng.random() < 0.35:
            pod["group"] = "spread"
            pod["anti_affinity"] = "hostname"
        if rng.random() < 0.15:
            pod["node_selector"] = {"zone": rng.choice(["a", "b"])}
        if rng.random() < 0.15:
            pod["node_affinity"] = [
                {"key": "gpu.model", "operator": rng.choice(["In", "NotIn"]), "values": ["T4"]}
            ]
        if rng.random() < 0.3:
            pod["tolerations"] = [{"key": "dedicated", "operator": "Exists"}]
        pods.append(pod)
    _make_some_running(rng, nodes, pods)
    policy = {
        "allow_eviction": rng.random() < 0.7,
        "max_moves": rng.choice([None, None, 0, 1]),
        "max_evictions": rng.choice([None, None, 0, 1]),
    }
    return PodsInstance.model_validate({"nodes": nodes, "pods": pods, "policy": policy})


def _make_some_running(rng: random.Random, nodes: list[dict], pods: list[dict]) -> None:
    used = {n["name"]: {"cpu_m": 0, "memory_mib": 0} for n in nodes}
    devices = {n["name"]: [1000] * n["capacity"].get("gpu", 0) for n in nodes}
    spread_on: set[str] = set()
    for pod in pods:
        if rng.random() > 0.4:
            continue
        node = rng.choice(nodes)
        name, cap = node["name"], node["capacity"]
        if any(used[name][r] + pod["requests"][r] > cap[r] for r in ("cpu_m", "memory_mib")):
            continue
        if pod.get("anti_affinity") and name in spread_on:
            continue
        free = devices[name]
        if pod["requests"].get("gpu"):
            idle = [d for d, f in enumerate(free) if f == 1000]
            if not idle:
                continue
            gpus = [idle[0]]
            free[idle[0]] = 0
        elif pod.get("gpu_milli"):
            fit = [d for d, f in enumerate(free) if f >= pod["gpu_milli"]]
            if not fit:
                continue
            gpus = [fit[0]]
            free[fit[0]] -= pod["gpu_milli"]
        else:
            gpus = None
        for r in ("cpu_m", "memory_mib"):
            used[name][r] += pod["requests"][r]
        if pod.get("anti_affinity"):
            spread_on.add(name)
        pod["node"] = name
        if gpus is not None:
            pod["gpus"] = gpus
        pod["protected"] = rng.random() < 0.2
