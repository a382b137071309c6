"""The Alibaba GPU trace loader: nodes, the pod mapping, and snapshots that are valid instances."""

from __future__ import annotations

import csv
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

import solver
from models.pods import GPU, Assignment, PodsInstance, PodsPlan
from solver.pods.cluster import build_arrays
from solver.pods.trace import (
    ENV_VAR,
    NODE_FILE,
    POD_FILE,
    QOS_PRIORITY,
    TracePod,
    alibaba_snapshot,
    alibaba_snapshot_with_info,
    load_nodes,
    load_trace_pods,
    resolve_data_dir,
    to_pod,
)
from solver.pods.validate import validate


@pytest.fixture(scope="module")
def data_dir() -> Path:
    try:
        return resolve_data_dir()
    except FileNotFoundError as exc:
        pytest.skip(f"shared trace data absent: {exc}")


@pytest.fixture(scope="module")
def small(data_dir: Path):
    return alibaba_snapshot_with_info(data_dir, nodes=64, running=300, pending=100, seed=0)


def keep_as_is(inst: PodsInstance) -> PodsPlan:
    """The plan that changes nothing: running pods stay with their devices, pending pods stay pending."""
    placed = Counter(p.priority for p in inst.pods if p.node is not None)
    return PodsPlan(
        assignments=[Assignment(pod=p.name, node=p.node, gpus=list(p.gpus or [])) for p in inst.pods],
        pending=[p.name for p in inst.pods if p.node is None],
        placed_by_priority=dict(placed),
    )


def assert_sound(inst: PodsInstance) -> None:
    validate(inst)
    build_arrays(inst)
    report = solver.check("pods", inst, keep_as_is(inst))
    assert report.ok, report.violations[:5]
    nodes = {n.name: n for n in inst.nodes}
    used: dict[str, Counter] = defaultdict(Counter)
    for p in inst.pods:
        if p.node is None:
            assert p.gpus is None
            continue
        assert p.node in nodes
        want = p.requests.get(GPU, 0) or (1 if p.gpu_milli else 0)
        assert len(p.gpus or []) == want, p
        assert all(0 <= d < nodes[p.node].capacity.get(GPU, 0) for d in p.gpus or [])
        used[p.node].update({r: v for r, v in p.requests.items() if r != GPU})
    for name, amounts in used.items():
        for r, v in amounts.items():
            assert v <= nodes[name].capacity[r]


# --- data directory ---------------------------------------------------------------------------


def test_missing_directory_names_the_path_and_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(FileNotFoundError, match=ENV_VAR) as err:
        resolve_data_dir(tmp_path)
    assert str(tmp_path) in str(err.value)
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="nowhere"):
        resolve_data_dir()


def test_environment_variable_is_used(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, str(data_dir))
    assert resolve_data_dir() == data_dir


# --- nodes ------------------------------------------------------------------------------------


def test_all_nodes_match_the_csv(data_dir: Path) -> None:
    with (data_dir / NODE_FILE).open() as f:
        rows = list(csv.DictReader(f))
    nodes = load_nodes(data_dir)
    assert len(nodes) == len(rows) == 1523
    assert len({n.name for n in nodes}) == 1523
    assert sum(n.capacity.get(GPU, 0) for n in nodes) == sum(int(r["gpu"]) for r in rows) == 6212
    assert sum(n.capacity["cpu_m"] for n in nodes) == sum(int(r["cpu_milli"]) for r in rows)
    assert sum(1 for n in nodes if GPU not in n.capacity) == sum(1 for r in rows if r["gpu"] == "0")
    assert all((GPU in n.capacity) == ("gpu.model" in n.labels) for n in nodes)


def test_known_nodes(data_dir: Path) -> None:
    nodes = {n.name: n for n in load_nodes(data_dir)}
    cpu_only = nodes["openb-node-0000"]
    assert cpu_only.capacity == {"cpu_m": 32000, "memory_mib": 262144}
    assert cpu_only.labels == {}
    g2 = nodes["openb-node-0234"]
    assert g2.capacity == {"cpu_m": 96000, "memory_mib": 393216, "gpu": 8}
    assert g2.labels == {"gpu.model": "G2"}
    assert nodes["openb-node-0244"].capacity == {"cpu_m": 104000, "memory_mib": 524288, "gpu": 2}
    assert nodes["openb-node-1328"].labels == {"gpu.model": "A10"}


# --- pods -------------------------------------------------------------------------------------


def test_trace_is_complete_and_sorted(data_dir: Path) -> None:
    trace = load_trace_pods(data_dir)
    with (data_dir / POD_FILE).open() as f:
        assert len(trace) == sum(1 for _ in csv.DictReader(f)) == 8152
    keys = [(p.creation_time, p.name) for p in trace]
    assert keys == sorted(keys)


def test_known_pods_map_to_requests_and_priorities(data_dir: Path) -> None:
    pods = {p.name: to_pod(p) for p in load_trace_pods(data_dir)}
    whole = pods["openb-pod-0000"]  # num_gpu 1, gpu_milli 1000, LS
    assert whole.requests == {"cpu_m": 12000, "memory_mib": 16384, "gpu": 1}
    assert whole.gpu_milli is None and whole.priority == 4
    share = pods["openb-pod-0001"]  # num_gpu 1, gpu_milli 460, LS
    assert share.requests == {"cpu_m": 6000, "memory_mib": 12288}
    assert share.gpu_milli == 460
    cpu = pods["openb-pod-0005"]  # num_gpu 0
    assert cpu.requests == {"cpu_m": 20000, "memory_mib": 65536} and cpu.gpu_milli is None
    eight = pods["openb-pod-0017"]  # num_gpu 8, Burstable
    assert eight.requests["gpu"] == 8 and eight.priority == 2
    assert pods["openb-pod-0129"].priority == 3  # Guaranteed
    be = pods["openb-pod-0022"]  # num_gpu 1, gpu_milli 220, BE
    assert be.priority == 1 and be.gpu_milli == 220
    assert all(p.group is None and p.node is None and not p.node_affinity for p in pods.values())


def test_qos_order_and_gpu_spec() -> None:
    assert QOS_PRIORITY["LS"] > QOS_PRIORITY["Guaranteed"] > QOS_PRIORITY["Burstable"] > QOS_PRIORITY["BE"]
    tp = TracePod("x", 1000, 1024, 2, 1000, "T4|P100", "BE", 0, 1)
    pod = to_pod(tp)
    assert pod.requests[GPU] == 2
    assert [(t.key, t.operator, t.values) for t in pod.node_affinity] == [("gpu.model", "In", ["T4", "P100"])]
    with pytest.raises(ValueError, match="qos"):
        to_pod(TracePod("y", 1000, 1024, 0, 0, "", "Platinum", 0, 1))


# --- snapshots --------------------------------------------------------------------------------


def test_small_snapshot_is_a_valid_instance(small, data_dir: Path) -> None:
    inst, info = small
    assert_sound(inst)
    assert len(inst.nodes) == info.nodes == 64
    names = [n.name for n in inst.nodes]
    assert names == sorted(names)
    running = [p for p in inst.pods if p.node is not None]
    pending = [p for p in inst.pods if p.node is None]
    assert len(running) == info.running and len(pending) == info.pending == 100
    assert info.running + info.dropped == 300  # no ties at the 300th pod's creation time
    assert inst.pods == running + pending  # running first, then the queue
    trace = {p.name: p for p in load_trace_pods(data_dir)}
    assert all(trace[p.name].creation_time <= info.t for p in running)
    assert all(trace[p.name].creation_time > info.t for p in pending)
    assert any(p.gpu_milli for p in running) and any(p.requests.get(GPU) for p in running)


def test_snapshot_is_deterministic_for_a_seed(small, data_dir: Path) -> None:
    inst, _ = small
    again = alibaba_snapshot(data_dir, nodes=64, running=300, pending=100, seed=0)
    assert again.model_dump() == inst.model_dump()
    other = alibaba_snapshot(data_dir, nodes=64, running=300, pending=100, seed=1)
    assert {n.name for n in other.nodes} != {n.name for n in inst.nodes}


def test_snapshot_policy_and_time_arguments(data_dir: Path) -> None:
    trace = load_trace_pods(data_dir)
    t = trace[999].creation_time
    inst, info = alibaba_snapshot_with_info(
        data_dir, at=t, window_s=3600, nodes=32, seed=3, allow_eviction=False, max_moves=2
    )
    assert info.t == t
    assert inst.policy.allow_eviction is False and inst.policy.max_moves == 2
    created = {p.name: p.creation_time for p in trace}
    assert all(t < created[p.name] <= t + 3600 for p in inst.pods if p.node is None)
    assert info.pending == sum(1 for p in trace if t < p.creation_time <= t + 3600)
    assert_sound(inst)
    with pytest.raises(ValueError):
        alibaba_snapshot(data_dir, running=10, at=t)
    with pytest.raises(ValueError):
        alibaba_snapshot(data_dir)


def test_trace_lifetimes_keep_only_pods_alive_at_t(data_dir: Path) -> None:
    inst, info = alibaba_snapshot_with_info(data_dir, running=4500, pending=50, lifetimes="trace")
    trace = {p.name: p for p in load_trace_pods(data_dir)}
    running = [p for p in inst.pods if p.node is not None]
    assert info.running + info.dropped < 100  # the trace's real lifetimes keep few pods alive at once
    assert all(trace[p.name].creation_time <= info.t < trace[p.name].deletion_time for p in running)
    assert_sound(inst)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_full_size_snapshot(data_dir: Path) -> None:
    t0 = time.perf_counter()
    inst, info = alibaba_snapshot_with_info(data_dir, running=4500, pending=1000)
    elapsed = time.perf_counter() - t0
    assert len(inst.nodes) == info.nodes == 1523
    assert len(inst.pods) >= 5000
    assert info.running + info.dropped >= 4500 and info.pending == 1000
    assert_sound(inst)
    assert elapsed < 60, f"full-size snapshot took {elapsed:.1f} s"
