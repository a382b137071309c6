"""Rules that relate several fields of a pods instance; each error names its JSON path."""

from __future__ import annotations

from collections import defaultdict

from models.pods import GPU, GPU_MILLI_PER_DEVICE, MAX_DEVICES, PodsInstance
from solver.engine.errors import FieldError, InvalidInstance


def validate(inst: PodsInstance) -> None:
    errors: list[FieldError] = []
    node_at: dict[str, int] = {}
    for i, node in enumerate(inst.nodes):
        if node.capacity.get(GPU, 0) > MAX_DEVICES:
            errors.append(
                FieldError(
                    ("nodes", i, "capacity", GPU),
                    f"at most {MAX_DEVICES} GPU devices per node",
                    node.capacity[GPU],
                )
            )
        if node.name in node_at:
            errors.append(
                FieldError(
                    ("nodes", i, "name"), f"duplicate node name (also nodes[{node_at[node.name]}])", node.name
                )
            )
        node_at.setdefault(node.name, i)
    seen: dict[str, int] = {}
    anti_of_group: dict[str, tuple[int, bool]] = {}
    for j, pod in enumerate(inst.pods):
        at = ("pods", j)
        if pod.name in seen:
            errors.append(
                FieldError((*at, "name"), f"duplicate pod name (also pods[{seen[pod.name]}])", pod.name)
            )
        seen.setdefault(pod.name, j)
        whole = pod.requests.get(GPU, 0)
        if whole > MAX_DEVICES:
            errors.append(FieldError((*at, "requests", GPU), f"at most {MAX_DEVICES} whole GPUs", whole))
        if pod.gpu_milli is not None and whole:
            errors.append(
                FieldError(
                    (*at, "gpu_milli"),
                    "a GPU share (gpu_milli) excludes whole GPUs "
                    f"(requests.gpu = {whole}); use one or the other",
                    pod.gpu_milli,
                )
            )
        if pod.anti_affinity and pod.group is None:
            errors.append(
                FieldError((*at, "anti_affinity"), "anti_affinity needs the pod's group", pod.anti_affinity)
            )
        if pod.group is not None:
            first = anti_of_group.setdefault(pod.group, (j, bool(pod.anti_affinity)))
            if first[1] != bool(pod.anti_affinity):
                errors.append(
                    FieldError(
                        (*at, "anti_affinity"),
                        f"pods of group {pod.group!r} disagree on "
                        f"anti_affinity (pods[{first[0]}] has {first[1] and 'hostname' or None})",
                        pod.anti_affinity,
                    )
                )
        if pod.node is None:
            if pod.gpus is not None:
                errors.append(
                    FieldError((*at, "gpus"), "only a running pod (with node) holds devices", pod.gpus)
                )
            if pod.protected:
                errors.append(
                    FieldError((*at, "protected"), "only a running pod (with node) can be protected", True)
                )
            continue
        if pod.node not in node_at:
            errors.append(FieldError((*at, "node"), "running pod names an unknown node", pod.node))
            continue
        devices = inst.nodes[node_at[pod.node]].capacity.get(GPU, 0)
        if pod.gpus is not None:
            wanted = whole or (1 if pod.gpu_milli else 0)
            if len(pod.gpus) != wanted or len(set(pod.gpus)) != len(pod.gpus):
                errors.append(
                    FieldError(
                        (*at, "gpus"),
                        f"needs {wanted} distinct device indices "
                        f"(requests.gpu = {whole}, gpu_milli = {pod.gpu_milli})",
                        pod.gpus,
                    )
                )
            elif any(d >= devices for d in pod.gpus):
                errors.append(
                    FieldError(
                        (*at, "gpus"),
                        f"device index out of range: node {pod.node} has {devices} "
                        f"devices (0..{devices - 1})",
                        pod.gpus,
                    )
                )
    if not errors:
        errors += _running_fits(inst)
    if errors:
        raise InvalidInstance(errors)


def _running_fits(inst: PodsInstance) -> list[FieldError]:
    """Running pods must fit their nodes now: resources, devices and anti-affinity."""
    errors: list[FieldError] = []
    index = {n.name: i for i, n in enumerate(inst.nodes)}
    used: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    groups: dict[tuple[int, str], list[str]] = defaultdict(list)
    shares: dict[tuple[int, int], int] = defaultdict(int)
    whole_dev: dict[tuple[int, int], str] = {}
    for pod in inst.pods:
        if pod.node is None:
            continue
        n = index[pod.node]
        for r, v in pod.requests.items():
            if r != GPU:
                used[n][r] += v
        if pod.anti_affinity and pod.group is not None:
            groups[(n, pod.group)].append(pod.name)
        for d in pod.gpus or []:
            if pod.gpu_milli:
                shares[(n, d)] += pod.gpu_milli
            else:
                if (n, d) in whole_dev:
                    errors.append(
                        FieldError(
                            ("pods",),
                            f"pods {whole_dev[(n, d)]} and {pod.name} both hold device "
                            f"{d} of node {pod.node} whole",
                        )
                    )
                whole_dev[(n, d)] = pod.name
    for n, amounts in used.items():
        node = inst.nodes[n]
        for r, v in amounts.items():
            if v > node.capacity.get(r, 0):
                errors.append(
                    FieldError(
                        ("nodes", n, "capacity", r),
                        f"running pods on node {node.name} request "
                        f"{v} {r}, more than its capacity {node.capacity.get(r, 0)}",
                        v,
                    )
                )
    for (n, d), milli in shares.items():
        if milli > GPU_MILLI_PER_DEVICE or (n, d) in whole_dev:
            errors.append(
                FieldError(
                    ("nodes", n, "capacity", GPU),
                    f"device {d} of node {inst.nodes[n].name} is "
                    f"overcommitted by running pods ({milli} milli shared"
                    f"{', and held whole' if (n, d) in whole_dev else ''})",
                    milli,
                )
            )
    for (n, group), names in groups.items():
        if len(names) > 1:
            errors.append(
                FieldError(
                    ("pods",),
                    f"running pods {', '.join(names)} of group {group!r} share node "
                    f"{inst.nodes[n].name} despite anti_affinity hostname",
                )
            )
    return errors
