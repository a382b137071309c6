"""Readers of the real profiles: PipeDream's graph.txt (Input dropped, a topological order, skip-edge
activations on every cut they cross) and PipeEdge's YAML (its own units, the device-type renaming)."""

from __future__ import annotations

import pytest

from solver.pipeline.formats import (
    FormatError,
    device_set,
    load_yaml,
    pipedream_layers,
    read_pipeedge,
    read_pipeedge_dir,
)
from tests.pipeline.conftest import INSTANCES, PIPEEDGE, VIT_BASE, VIT_LARGE

TAIL = "forward_compute_time={}, backward_compute_time={}, activation_size={}, parameter_size={}"
NODES = [
    ("node1", "Input0", 0, 0, "0.0", 0),
    ("node2", "Conv2d(3, 8)", 1, 2, "100.0", 10),
    ("node3", "ReLU()", 0.5, 0.5, "100.0", 0),
    ("node4", "Conv2d(8, 8)", 1, 2, "[30.0; 20.0]", 20),
    ("node5", "Add()", 0.1, 0.1, "100.0", 0),
]
EDGES = [("node1", "node2"), ("node2", "node3"), ("node3", "node4"), ("node4", "node5"), ("node2", "node5")]
GRAPH = "".join(f"{n} -- {d} -- {TAIL.format(f, b, a, w)}\n" for n, d, f, b, a, w in NODES) + "".join(
    f"\t{a} -- {b}\n" for a, b in EDGES
)


def test_pipedream_skip_edges_count_on_every_cut_they_cross():
    rows = pipedream_layers(GRAPH)
    assert [r["name"] for r in rows] == ["node2 Conv2d", "node3 ReLU", "node4 Conv2d", "node5 Add"]
    # cut after node2: its output (100) to node3 and, by the skip edge, to node5
    # cut after node3: node3's output (100) and node2's skip output (100)
    # cut after node4: node4's outputs (30 + 20) and node2's skip output (100)
    assert [r["activation_bytes"] for r in rows] == [100, 200, 150, 0]
    assert [r["weight_bytes"] for r in rows] == [10, 0, 20, 0]
    assert rows[2]["activation_memory_bytes"] == 50


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("node1 -- X -- forward_compute_time=1\n", "line 1: neither a node nor an edge"),
        (GRAPH + "\tnode5 -- node9\n", "unknown node node9"),
        (GRAPH + "\tnode5 -- node2\n", "has a cycle"),
    ],
)
def test_pipedream_errors_name_the_line(text, reason):
    with pytest.raises(FormatError, match=reason):
        pipedream_layers(text)


def test_pipedream_shipped_profiles_match_their_totals():
    vgg = pipedream_layers((INSTANCES / "vgg16.graph.txt").read_text())
    assert len(vgg) == 40  # 41 nodes less the Input
    assert sum(r["fwd"] for r in vgg) == pytest.approx(234, abs=0.5)
    assert sum(r["bwd"] for r in vgg) == pytest.approx(439, abs=0.5)
    gnmt = pipedream_layers((INSTANCES / "gnmt.graph.txt").read_text())
    assert len(gnmt) == 45  # 48 nodes less three Inputs


SHARED_PROFILES = INSTANCES.parents[1] / ".." / "shared" / "data" / "pipedream_profiles"


@pytest.mark.skipif(not SHARED_PROFILES.is_dir(), reason="../shared/data is not present")
def test_every_pipedream_profile_reads_in_topological_order():
    """The eleven profiles: Input nodes dropped, every remaining node once, and each layer read only by
    layers after it (a topological order), so every cut's bytes are finite and non-negative."""
    files = sorted(SHARED_PROFILES.glob("*.graph.txt"))
    assert len(files) == 11
    for f in files:
        text = f.read_text()
        nodes = [line for line in text.splitlines() if line and not line.startswith("\t")]
        inputs = sum(" -- Input" in line for line in nodes)
        rows = pipedream_layers(text)
        assert len(rows) == len(nodes) - inputs > 0, f.name
        pos = {r["name"].split()[0]: i for i, r in enumerate(rows)}
        for line in text.splitlines():
            if line.startswith("\t"):
                a, b = line.strip().split(" -- ")
                assert a not in pos or b not in pos or pos[a] < pos[b], (f.name, a, b)
        assert all(r["activation_bytes"] >= 0 and r["fwd"] >= 0 for r in rows), f.name
        assert rows[-1]["activation_bytes"] == 0


def test_yaml_subset_reads_the_pipeedge_files_as_pyyaml_does():
    yaml = pytest.importorskip("yaml")
    for name in ("models.yml", "device_types.yml", "devices.yml", "example_schedule.yml"):
        text = (PIPEEDGE / name).read_text()
        assert load_yaml(text) == yaml.safe_load(text), name


@pytest.mark.parametrize(
    "text", ['a: "quoted"', "a: {b: 1}", "a: &x 1", "a: |\n  text", "a: [1, [2]]", "a: [1,"]
)
def test_yaml_beyond_the_subset_is_refused(text):
    with pytest.raises(FormatError, match="line 1"):
        load_yaml(text)


def test_pipeedge_units_and_renaming():
    inst, notes = read_pipeedge_dir(PIPEEDGE, model=VIT_BASE)
    assert notes == ["devices.yml type RCC-VE-C2558 read as the profiled type RCC-VE-C2000"]
    assert [d.name for d in inst.devices] == [f"mb-{i}" for i in range(4)] + [f"rcc-{i}" for i in range(4)]
    assert {d.type for d in inst.devices} == {"Minnowboard-E3845", "RCC-VE-C2000"}
    assert inst.devices[0].memory_bytes == 2048 * 2**20 and inst.devices[4].memory_bytes == 8192 * 2**20
    assert inst.network.bandwidth_gbps == pytest.approx(1000 * 2**20 / 1e9)  # PipeEdge: Mbps = 2^20 bit/s
    first = inst.layers[0]
    assert first.time_ms["Minnowboard-E3845"] == pytest.approx(462.703, abs=1e-3)
    assert first.activation_bytes == 302592 * 4 * 8  # parameters_out x float32 x batch 8
    assert first.weight_bytes == round(26.808319999999995 * 2**20)
    total = sum(layer.weight_bytes for layer in read_pipeedge_dir(PIPEEDGE, model=VIT_LARGE)[0].layers)
    assert total / 2**20 == pytest.approx(2903.0, abs=0.5)


def test_pipeedge_errors():
    models = (PIPEEDGE / "models.yml").read_text()
    types = (PIPEEDGE / "device_types.yml").read_text()
    with pytest.raises(FormatError, match="no model 'nope'"):
        read_pipeedge(models, types, "t: [a]", model="nope")
    with pytest.raises(FormatError, match="no host of a profiled type"):
        read_pipeedge(models, types, "Unknown-Board:\n- x\n", model=VIT_BASE)


def test_device_sets():
    devices, net, speedup = device_set(
        {"devices": [{"name": "a", "type": "x", "memory_bytes": 5}], "speedup": {"x": 2}}
    )
    assert devices[0].name == "a" and net.bandwidth_gbps == 10.0 and speedup == {"x": 2.0}
    with pytest.raises(FormatError, match="unknown field"):
        device_set({"devices": [], "gpus": 1})
    with pytest.raises(FormatError, match="must be > 0"):
        device_set({"devices": [], "speedup": {"x": 0}})
