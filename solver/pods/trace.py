"""Loader of the Alibaba GPU cluster trace 2023 ("openb") as pods instances.

The trace (alibaba/clusterdata, cluster-trace-gpu-v2023) was published with Weng et al., "Beware of
Fragmentation: Scheduling GPU-Sharing Workloads with Fragmentation Gradient Descent", USENIX ATC 2023;
cite it when results built on it are published. Two CSV files are read:

- openb_node_list_all_node.csv: sn, cpu_milli, memory_mib, gpu (devices), model (GPU type).
- openb_pod_list_default.csv: name, cpu_milli, memory_mib, num_gpu, gpu_milli, gpu_spec, qos,
  pod_phase, creation_time, deletion_time, scheduled_time (seconds).

A snapshot at time t turns the trace into one pods instance: the pods alive at t are running where the
default kube-scheduler (emulated) would have put them, and the pods created right after t are pending.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from models.pods import GPU, GPU_MILLI_PER_DEVICE, AffinityTerm, Node, Pod, PodsInstance, Policy
from solver.pods.cluster import CPU, MEMORY, build_arrays
from solver.pods.heuristic import KubeScheduler

ENV_VAR = "SCHEDOPT_ALIBABA_DIR"
REPO_ROOT = Path(__file__).resolve().parents[2]  # the directory holding pyproject.toml
DEFAULT_DIR = REPO_ROOT.parent / "shared" / "data" / "alibaba-gpu-2023"
NODE_FILE = "openb_node_list_all_node.csv"
POD_FILE = "openb_pod_list_default.csv"
GPU_MODEL_LABEL = "gpu.model"

# Kubernetes QoS classes of the trace, mapped to priority tiers (higher is more important).
QOS_PRIORITY: dict[str, int] = {"LS": 4, "Guaranteed": 3, "Burstable": 2, "BE": 1}

Lifetimes = Literal["ignore", "trace"]


@dataclass(frozen=True)
class TracePod:
    """One row of openb_pod_list_default.csv (times in seconds from the trace's start)."""

    name: str
    cpu_milli: int
    memory_mib: int
    num_gpu: int
    gpu_milli: int
    gpu_spec: str
    qos: str
    creation_time: int
    deletion_time: int


@dataclass(frozen=True)
class SnapshotInfo:
    """What a snapshot took from the trace."""

    t: int  # snapshot time, seconds from the trace's start
    running: int  # pods alive at t that the replay placed (running pods of the instance)
    dropped: int  # pods alive at t that fit nowhere in the replay (left out of the instance)
    pending: int  # pods created after t (pending pods of the instance)
    nodes: int  # nodes of the instance


def resolve_data_dir(data_dir: Path | str | None = None) -> Path:
    """The trace's directory: the argument, else $SCHEDOPT_ALIBABA_DIR, else ../shared/data/alibaba-gpu-2023
    next to the repository. Raises FileNotFoundError naming where it looked."""
    if data_dir is not None:
        where, origin = Path(data_dir), "the data_dir argument"
    elif os.environ.get(ENV_VAR):
        where, origin = Path(os.environ[ENV_VAR]), f"${ENV_VAR}"
    else:
        where, origin = DEFAULT_DIR, f"the default (neither data_dir nor ${ENV_VAR} was given)"
    missing = [f for f in (NODE_FILE, POD_FILE) if not (where / f).is_file()]
    if missing:
        raise FileNotFoundError(
            f"Alibaba GPU trace not found: looked in {where} (from {origin}) for {', '.join(missing)}; "
            f"pass data_dir or set {ENV_VAR} to the directory holding {NODE_FILE} and {POD_FILE}"
        )
    return where


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def load_nodes(data_dir: Path | str | None = None) -> list[Node]:
    """All nodes in file order: cpu_m, memory_mib and gpu (devices, omitted when 0); label gpu.model."""
    out = []
    for row in _rows(resolve_data_dir(data_dir) / NODE_FILE):
        capacity = {CPU: int(row["cpu_milli"]), MEMORY: int(row["memory_mib"])}
        if int(row["gpu"]):
            capacity[GPU] = int(row["gpu"])
        model = row["model"].strip()
        out.append(Node(name=row["sn"], capacity=capacity, labels={GPU_MODEL_LABEL: model} if model else {}))
    return out


def load_trace_pods(data_dir: Path | str | None = None) -> list[TracePod]:
    """All pods of the trace, sorted by (creation_time, name)."""
    pods = [
        TracePod(
            name=row["name"],
            cpu_milli=int(row["cpu_milli"]),
            memory_mib=int(row["memory_mib"]),
            num_gpu=int(row["num_gpu"]),
            gpu_milli=int(row["gpu_milli"] or 0),
            gpu_spec=row["gpu_spec"].strip(),
            qos=row["qos"].strip(),
            creation_time=int(row["creation_time"]),
            deletion_time=int(row["deletion_time"]),
        )
        for row in _rows(resolve_data_dir(data_dir) / POD_FILE)
    ]
    pods.sort(key=lambda p: (p.creation_time, p.name))
    return pods


def to_pod(tp: TracePod) -> Pod:
    """A trace pod as a pending Pod.

    num_gpu >= 2, or 1 with gpu_milli 1000: requests.gpu = num_gpu (whole devices); num_gpu 1 with
    gpu_milli < 1000: a share gpu_milli of one device; num_gpu 0: no GPU. gpu_spec (allowed GPU types,
    '|'-separated, empty = any) becomes node_affinity gpu.model In [...]; qos becomes the priority.
    """
    if tp.qos not in QOS_PRIORITY:
        raise ValueError(f"pod {tp.name}: unknown qos {tp.qos!r}; expected one of {sorted(QOS_PRIORITY)}")
    requests = {CPU: tp.cpu_milli, MEMORY: tp.memory_mib}
    gpu_milli = None
    if tp.num_gpu >= 2 or (tp.num_gpu == 1 and tp.gpu_milli >= GPU_MILLI_PER_DEVICE):
        requests[GPU] = tp.num_gpu
    elif tp.num_gpu == 1:
        if tp.gpu_milli <= 0:
            raise ValueError(f"pod {tp.name}: num_gpu 1 with gpu_milli {tp.gpu_milli}; expected 1..1000")
        gpu_milli = tp.gpu_milli
    elif tp.num_gpu < 0:
        raise ValueError(f"pod {tp.name}: negative num_gpu {tp.num_gpu}")
    models = [m.strip() for m in tp.gpu_spec.split("|") if m.strip()]
    affinity = [AffinityTerm(key=GPU_MODEL_LABEL, operator="In", values=models)] if models else []
    # model_validate rather than Pod(...): mypy without the pydantic plugin misreads Field(None, ...) defaults
    return Pod.model_validate(
        {
            "name": tp.name,
            "requests": requests,
            "gpu_milli": gpu_milli,
            "node_affinity": affinity,
            "priority": QOS_PRIORITY[tp.qos],
            "group": None,
        }
    )


def _snapshot_time(trace: list[TracePod], running: int | None, at: int | None) -> int:
    if running is not None and at is not None:
        raise ValueError(f"give running ({running}) or at ({at}), not both")
    if at is not None:
        return int(at)
    if running is None:
        raise ValueError("give running (snapshot at the creation of the running-th pod) or at (seconds)")
    if not 0 <= running <= len(trace):
        raise ValueError(f"running = {running}: the trace has {len(trace)} pods; expected 0..{len(trace)}")
    return trace[running - 1].creation_time if running else trace[0].creation_time - 1


def _sample_nodes(all_nodes: list[Node], count: int | None, seed: int) -> list[Node]:
    if count is None:
        return all_nodes
    if not 1 <= count <= len(all_nodes):
        total = len(all_nodes)
        raise ValueError(f"nodes = {count}: the cluster has {total} nodes; expected 1..{total}")
    picked = np.random.default_rng(seed).choice(len(all_nodes), size=count, replace=False)
    return sorted((all_nodes[int(i)] for i in picked), key=lambda n: n.name)


def _replay(nodes: list[Node], pods: list[Pod]) -> list[Pod]:
    """Schedule the pods one by one in the given order with the default scheduler (no preemption);
    return those placed as running pods (node and devices set). Pods that fit nowhere are dropped."""
    if not pods:
        return []
    arr = build_arrays(PodsInstance(nodes=nodes, pods=pods))
    ks = KubeScheduler(arr, preemption=False)
    for j in range(len(pods)):
        ks.schedule_one(j)
    st = ks.st
    out = []
    for j, pod in enumerate(pods):
        n = int(st.node_of[j])
        if n < 0:
            continue
        gpus = [int(d) for d in st.gpus_of[j]]
        out.append(pod.model_copy(update={"node": nodes[n].name, "gpus": gpus or None}))
    return out


def alibaba_snapshot_with_info(
    data_dir: Path | str | None = None,
    *,
    running: int | None = None,
    at: int | None = None,
    pending: int = 1000,
    window_s: int | None = None,
    lifetimes: Lifetimes = "ignore",
    nodes: int | None = None,
    seed: int = 0,
    allow_eviction: bool = True,
    max_moves: int | None = None,
    max_evictions: int | None = None,
) -> tuple[PodsInstance, SnapshotInfo]:
    """A pods instance from the trace at time t, and what it took. See alibaba_snapshot."""
    if lifetimes not in ("ignore", "trace"):
        raise ValueError(f"lifetimes = {lifetimes!r}; expected 'ignore' or 'trace'")
    if pending < 0:
        raise ValueError(f"pending = {pending}; expected >= 0")
    if window_s is not None and window_s < 0:
        raise ValueError(f"window_s = {window_s}; expected >= 0")
    root = resolve_data_dir(data_dir)
    trace = load_trace_pods(root)
    t = _snapshot_time(trace, running, at)
    chosen = _sample_nodes(load_nodes(root), nodes, seed)

    alive = [p for p in trace if p.creation_time <= t and (lifetimes == "ignore" or p.deletion_time > t)]
    later = [p for p in trace if p.creation_time > t]
    later = [p for p in later if p.creation_time <= t + window_s] if window_s is not None else later[:pending]

    placed = _replay(chosen, [to_pod(p) for p in alive])
    queued = [to_pod(p) for p in later]
    policy = Policy(allow_eviction=allow_eviction, max_moves=max_moves, max_evictions=max_evictions)
    inst = PodsInstance(nodes=chosen, pods=placed + queued, policy=policy)
    info = SnapshotInfo(
        t=t, running=len(placed), dropped=len(alive) - len(placed), pending=len(queued), nodes=len(chosen)
    )
    return inst, info


def alibaba_snapshot(
    data_dir: Path | str | None = None,
    *,
    running: int | None = None,
    at: int | None = None,
    pending: int = 1000,
    window_s: int | None = None,
    lifetimes: Lifetimes = "ignore",
    nodes: int | None = None,
    seed: int = 0,
    allow_eviction: bool = True,
    max_moves: int | None = None,
    max_evictions: int | None = None,
) -> PodsInstance:
    """A pods instance from the Alibaba GPU trace: the cluster at time t, with the next arrivals pending.

    - Trace pods are sorted by (creation_time, name). Their pod_phase and scheduled_time are not used.
    - The snapshot time t is `at` (seconds) if given, else the creation time of the `running`-th pod
      (1-based; running=0 means before the first pod). Give exactly one of the two.
    - Alive at t: created at or before t (so ties at t are all alive, and the running count can exceed
      `running`); with lifetimes="trace" also deleted after t. With lifetimes="ignore" (the default)
      pods never finish, the simulation setting of the FGD paper: with the trace's real lifetimes only
      about 40-56 pods are ever alive at once, far too few to load the cluster.
    - The alive pods are replayed in creation order through the default kube-scheduler emulation
      (KubeScheduler without preemption, one schedule_one per pod, starting from an empty cluster);
      those placed become running pods with `node` and `gpus` (device indices); a pod that fits
      nowhere is dropped, as the real cluster would have left it pending or failed.
    - Pending pods: the next `pending` trace pods created after t, in creation order; with `window_s`,
      instead every pod created in (t, t + window_s] (then `pending` is ignored).
    - `nodes`: a random sample of that many nodes (numpy default_rng(seed)), sorted by name; None
      keeps all 1,523 nodes in file order. `seed` affects only this sample.
    - Node capacity: cpu_m, memory_mib and gpu (devices, omitted when 0); label gpu.model = model.
      Pods: requests cpu_m and memory_mib; whole GPUs as requests.gpu, a share of one GPU as
      gpu_milli (see to_pod); gpu_spec as node_affinity on gpu.model; priority by QOS_PRIORITY
      (LS 4 > Guaranteed 3 > Burstable 2 > BE 1); no groups.
    - Policy from allow_eviction, max_moves and max_evictions.

    data_dir defaults to $SCHEDOPT_ALIBABA_DIR, else ../shared/data/alibaba-gpu-2023 next to the
    repository; FileNotFoundError says where it looked when the files are missing.
    """
    inst, _ = alibaba_snapshot_with_info(
        data_dir,
        running=running,
        at=at,
        pending=pending,
        window_s=window_s,
        lifetimes=lifetimes,
        nodes=nodes,
        seed=seed,
        allow_eviction=allow_eviction,
        max_moves=max_moves,
        max_evictions=max_evictions,
    )
    return inst


__all__ = [
    "ENV_VAR",
    "QOS_PRIORITY",
    "SnapshotInfo",
    "TracePod",
    "alibaba_snapshot",
    "alibaba_snapshot_with_info",
    "load_nodes",
    "load_trace_pods",
    "resolve_data_dir",
    "to_pod",
]
