"""The oracle: is a pods plan feasible, and what is its objective? From the instance and plan alone.

Deliberately shares no code with the heuristics or the formulations (not even the rule helpers),
so a bug there cannot hide here. Every rule of the contract is re-derived from the models.
"""

from __future__ import annotations

from collections import defaultdict

from models.pods import GPU, GPU_MILLI_PER_DEVICE, Pod, PodsInstance, PodsPlan, Taint
from solver.engine.family import CheckReport


def _tolerated(pod: Pod, taint: Taint) -> bool:
    for t in pod.tolerations:
        effect_ok = t.effect is None or t.effect == taint.effect
        if t.operator == "Exists":
            key_ok = t.key in ("", taint.key)
        else:
            key_ok = t.key == taint.key and t.value == taint.value
        if effect_ok and key_ok:
            return True
    return False


def _label_rules_hold(pod: Pod, labels: dict[str, str]) -> list[str]:
    problems = [f"node_selector {k}={v}" for k, v in pod.node_selector.items() if labels.get(k) != v]
    for term in pod.node_affinity:
        has = term.key in labels
        value = labels.get(term.key)
        ok = {
            "In": has and value in term.values,
            "NotIn": not has or value not in term.values,
            "Exists": has,
            "DoesNotExist": not has,
        }[term.operator]
        if not ok:
            problems.append(f"node_affinity {term.key} {term.operator} {term.values}")
    return problems


def check(inst: PodsInstance, plan: PodsPlan) -> CheckReport:
    v: list[str] = []
    nodes = {n.name: n for n in inst.nodes}
    pods = {p.name: p for p in inst.pods}
    where: dict[str, tuple[str | None, list[int]]] = {}
    for a in plan.assignments:
        if a.pod not in pods:
            v.append(f"assignment for unknown pod {a.pod}")
        elif a.pod in where:
            v.append(f"pod {a.pod} assigned twice")
        elif a.node is not None and a.node not in nodes:
            v.append(f"pod {a.pod} assigned to unknown node {a.node}")
        else:
            where[a.pod] = (a.node, list(a.gpus))
    for name in pods:
        if name not in where:
            v.append(f"pod {name} missing from the plan's assignments")
            where[name] = (pods[name].node, list(pods[name].gpus or []))  # judge the rest as if unchanged

    used: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    whole_holder: dict[tuple[str, int], list[str]] = defaultdict(list)
    shared: dict[tuple[str, int], int] = defaultdict(int)
    spread: dict[tuple[str, str], list[str]] = defaultdict(list)
    moves = evictions = 0
    derived_moves, derived_evictions, derived_pending = set(), set(), set()
    placed: dict[int, int] = defaultdict(int)
    for name, pod in pods.items():
        node_name, gpus = where[name]
        if node_name is None:
            if pod.node is not None:
                evictions += 1
                derived_evictions.add(name)
                if pod.protected:
                    v.append(f"protected pod {name} evicted")
            else:
                derived_pending.add(name)
            if gpus:
                v.append(f"pod {name} is not running but lists GPUs {gpus}")
            continue
        node = nodes[node_name]
        placed[pod.priority] += 1
        staying = node_name == pod.node
        if pod.node is not None and not staying:
            moves += 1
            derived_moves.add(name)
            if pod.protected:
                v.append(f"protected pod {name} moved from {pod.node} to {node_name}")
        for taint in node.taints:
            blocking = ("NoExecute",) if staying else ("NoSchedule", "NoExecute")
            if taint.effect in blocking and not _tolerated(pod, taint):
                v.append(
                    f"pod {name} on node {node_name} does not tolerate taint {taint.key}={taint.value}:"
                    f"{taint.effect}"
                )
        if not staying:
            if node.unschedulable:
                v.append(f"pod {name} newly placed on unschedulable node {node_name}")
            for problem in _label_rules_hold(pod, node.labels):
                v.append(f"pod {name} on node {node_name} breaks {problem}")
        for r, amount in pod.requests.items():
            if r != GPU:
                used[node_name][r] += amount
        # devices
        devices = node.capacity.get(GPU, 0)
        whole = pod.requests.get(GPU, 0)
        want = whole if whole else (1 if pod.gpu_milli else 0)
        if len(gpus) != want or len(set(gpus)) != len(gpus):
            v.append(f"pod {name} needs {want} distinct GPU devices, plan gives {gpus}")
        for d in gpus:
            if not 0 <= d < devices:
                v.append(f"pod {name} uses device {d} of node {node_name}, which has {devices}")
            elif whole:
                whole_holder[(node_name, d)].append(name)
            else:
                shared[(node_name, d)] += pod.gpu_milli or 0
        if staying and pod.gpus is not None and sorted(gpus) != sorted(pod.gpus):
            v.append(f"running pod {name} stays on {node_name} but changes devices {pod.gpus} -> {gpus}")
        if pod.group is not None:
            spread[(node_name, pod.group)].append(name)

    for node_name, amounts in used.items():
        cap = nodes[node_name].capacity
        for r, amount in amounts.items():
            if amount > cap.get(r, 0):
                v.append(f"node {node_name} over capacity on {r}: {amount} > {cap.get(r, 0)}")
    for (node_name, d), holders in whole_holder.items():
        if len(holders) > 1 or shared.get((node_name, d), 0):
            v.append(f"device {d} of node {node_name} held whole by {holders} and shared by others")
    for (node_name, d), milli in shared.items():
        if milli > GPU_MILLI_PER_DEVICE:
            v.append(f"device {d} of node {node_name} shared beyond {GPU_MILLI_PER_DEVICE} milli: {milli}")
    anti = {p.group for p in inst.pods if p.anti_affinity == "hostname" and p.group is not None}
    for (node_name, group), members in spread.items():
        if group in anti and len(members) > 1:
            v.append(f"pods {sorted(members)} of group {group} share node {node_name} despite anti-affinity")

    policy = inst.policy
    if evictions and not policy.allow_eviction:
        v.append(f"{evictions} running pod(s) evicted although the policy forbids eviction")
    if policy.max_evictions is not None and evictions > policy.max_evictions:
        v.append(f"{evictions} evictions exceed max_evictions {policy.max_evictions}")
    if policy.max_moves is not None and moves > policy.max_moves:
        v.append(f"{moves} moves exceed max_moves {policy.max_moves}")

    plan_moves = {(m.pod, m.from_node, m.to_node) for m in plan.moves}
    if plan_moves != {(n, pods[n].node, where[n][0]) for n in derived_moves}:
        v.append("plan.moves does not match the assignments")
    if set(plan.evictions) != derived_evictions or len(plan.evictions) != len(derived_evictions):
        v.append("plan.evictions does not match the assignments")
    if set(plan.pending) != derived_pending or len(plan.pending) != len(derived_pending):
        v.append("plan.pending does not match the assignments")
    if {p: c for p, c in plan.placed_by_priority.items() if c} != dict(placed):
        v.append("plan.placed_by_priority does not match the assignments")

    objective: dict[str, float] = {}
    for prio in sorted({p.priority for p in inst.pods}, reverse=True):
        objective[f"placed_priority_{prio}"] = float(placed.get(prio, 0))
    objective["evictions"] = float(evictions)
    objective["moves"] = float(moves)
    return CheckReport(violations=v, objective=objective)
