"""Readers of real profiles into pipeline instances: PipeDream's graph.txt and PipeEdge's scheduler YAML.

PipeDream (msr-fiddle/pipedream, profiler output): one line per layer node,
    nodeN -- <module> -- forward_compute_time=<ms>, backward_compute_time=<ms>, activation_size=<B>,
    parameter_size=<B>
then tab-indented edges `nodeA -- nodeB`. The Input nodes (data loading) are dropped and the layers taken
in a topological order (ties by node number). A cut after position k carries the output of every layer at
or before k that a layer after k reads, so activations on skip edges count toward every cut they cross.
An activation size may list several outputs (`[a; b; c]`): their sum. Times are for the profiled
device; other device types get them divided by their `speedup`.

PipeEdge (usc-isi/PipeEdge, README_Scheduler.md): models.yml (per-layer mem_MB, parameters_out),
device_types.yml (bw_Mbps, mem_MB, per-layer time_s per model and batch size), devices.yml (hosts per
type). Sizes follow PipeEdge's scheduler (schedule.cpp): MB = 2^20 bytes, Mbps = 2^20 bits/s, a cut after
layer l sends parameters_out[l] x 4 bytes (float32) x batch size; a transfer between two types uses the
smaller bandwidth. PipeEdge's extra send/receive buffers are not modelled. The YAML is read by a small
reader limited to the structure of these files (block mappings and sequences, flow lists over several
lines, plain scalars), so that the service needs no YAML library at run time; it refuses anything else.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import networkx as nx

from models.pipeline import Device, Layer, Network, PipelineInstance, Training

PIPEEDGE_ALIASES = {"RCC-VE-C2558": "RCC-VE-C2000"}  # devices.yml's name for the profiled RCC-VE-C2000
MIB = 2**20
DTYPE_BYTES = {"torch.float32": 4, "torch.float16": 2, "torch.bfloat16": 2, "torch.float64": 8}


class FormatError(ValueError):
    """A file that is not in the expected format: says where and what."""


# device sets -------------------------------------------------------------------------------------


def device_set(data: Any) -> tuple[list[Device], Network, dict[str, float]]:
    """A device-set JSON: {"devices": [...], "network": {...}, "speedup": {type: factor}}."""
    if not isinstance(data, Mapping) or "devices" not in data:
        raise FormatError('a device set is an object with "devices" (and optionally "network", "speedup")')
    unknown = set(data) - {"devices", "network", "speedup"}
    if unknown:
        raise FormatError(f"unknown field(s) {sorted(unknown)} in the device set")
    devices = [Device.model_validate(d) for d in data["devices"]]
    network = Network.model_validate(data.get("network", {"bandwidth_gbps": 10.0}))
    speedup = {str(k): float(v) for k, v in dict(data.get("speedup", {})).items()}
    for t, v in speedup.items():
        if not v > 0 or not math.isfinite(v):
            raise FormatError(f"speedup of {t} must be > 0, got {v}")
    return devices, network, speedup


def identical_devices(
    count: int, memory_bytes: int, bandwidth_gbps: float, type_name: str = "gpu"
) -> tuple[list[Device], Network]:
    devices = [
        Device(name=f"{type_name}-{i}", type=type_name, memory_bytes=memory_bytes) for i in range(count)
    ]
    return devices, Network(bandwidth_gbps=bandwidth_gbps)


# PipeDream ---------------------------------------------------------------------------------------

_NODE = re.compile(
    r"^(?P<id>\S+) -- (?P<desc>.*) -- forward_compute_time=(?P<fwd>[-+0-9.eE]+), "
    r"backward_compute_time=(?P<bwd>[-+0-9.eE]+), activation_size=(?P<act>\[[^\]]*\]|[-+0-9.eE]+), "
    r"parameter_size=(?P<par>[-+0-9.eE]+)\s*$"
)
_EDGE = re.compile(r"^\t(?P<a>\S+) -- (?P<b>\S+)\s*$")


def pipedream_layers(text: str) -> list[dict[str, Any]]:
    """The layers of a graph.txt in pipeline order: name, fwd/bwd ms, weights, activation memory, and the
    bytes a cut after the layer carries."""
    nodes: dict[str, dict[str, Any]] = {}
    edges: list[tuple[str, str]] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        m = _EDGE.match(line)
        if m:
            edges.append((m["a"], m["b"]))
            continue
        m = _NODE.match(line)
        if not m:
            raise FormatError(f"line {n}: neither a node nor an edge: {line[:80]!r}")
        nodes[m["id"]] = {
            "desc": m["desc"].strip(),
            "fwd": float(m["fwd"]),
            "bwd": float(m["bwd"]),
            "act": _size(m["act"], n),
            "par": float(m["par"]),
        }
    for a, b in edges:
        for x in (a, b):
            if x not in nodes:
                raise FormatError(f"edge {a} -- {b}: unknown node {x}")
    inputs = {k for k, v in nodes.items() if v["desc"].startswith("Input")}
    g = nx.DiGraph()
    g.add_nodes_from(k for k in nodes if k not in inputs)
    g.add_edges_from((a, b) for a, b in edges if a not in inputs and b not in inputs)
    if not g.number_of_nodes():
        raise FormatError("no layer nodes besides the inputs")
    if not nx.is_directed_acyclic_graph(g):
        raise FormatError("the layer graph has a cycle")
    order = list(nx.lexicographical_topological_sort(g, key=_node_key))
    pos = {k: i for i, k in enumerate(order)}
    crossing = [0.0] * (len(order) + 1)  # difference array of the bytes each cut carries
    for u in order:
        last = max((pos[v] for v in g.successors(u)), default=pos[u])
        if last > pos[u]:
            crossing[pos[u]] += nodes[u]["act"]
            crossing[last] -= nodes[u]["act"]
    out = []
    running = 0.0
    for i, u in enumerate(order):
        running += crossing[i]
        node = nodes[u]
        op = node["desc"].split("(", 1)[0].strip() or "layer"
        out.append(
            {
                "name": f"{u} {op}",
                "fwd": node["fwd"],
                "bwd": node["bwd"],
                "weight_bytes": int(round(node["par"])),
                "activation_memory_bytes": int(round(node["act"])),
                "activation_bytes": int(round(running)) if i + 1 < len(order) else 0,
            }
        )
    return out


def _size(text: str, n: int) -> float:
    """A size, or a list of sizes `[a; b; c]` (a module with several outputs): their sum."""
    try:
        if text.startswith("["):
            return sum(float(x) for x in text[1:-1].split(";") if x.strip())
        return float(text)
    except ValueError:
        raise FormatError(f"line {n}: not a size: {text!r}") from None


def _node_key(node: str) -> str:
    digits = re.sub(r"\D", "", node)
    return f"{int(digits):012d}" if digits else node


def read_pipedream(
    text: str,
    devices: list[Device],
    network: Network,
    speedup: Mapping[str, float] | None = None,
    profiled_type: str | None = None,
    mode: str = "inference",
    objective: str = "throughput",
    microbatches: int = 1,
    max_stages: int | None = None,
) -> PipelineInstance:
    """A graph.txt on a device set. Times are the profiled device's; a type's time is divided by its
    speedup (1 for the profiled type and any type not listed)."""
    speedup = dict(speedup or {})
    if profiled_type is not None:
        speedup.setdefault(profiled_type, 1.0)
    types = list(dict.fromkeys(d.type for d in devices))
    layers = []
    for row in pipedream_layers(text):
        layers.append(
            Layer(
                name=row["name"],
                time_ms={t: row["fwd"] / speedup.get(t, 1.0) for t in types},
                backward_ms={t: row["bwd"] / speedup.get(t, 1.0) for t in types}
                if mode == "training"
                else {},
                weight_bytes=row["weight_bytes"],
                activation_bytes=row["activation_bytes"],
                activation_memory_bytes=row["activation_memory_bytes"],
            )
        )
    return PipelineInstance(
        layers=layers,
        devices=devices,
        network=network,
        mode=mode,  # type: ignore[arg-type]
        training=Training(microbatches=microbatches) if mode == "training" else None,
        objective=objective,  # type: ignore[arg-type]
        max_stages=max_stages,
    )


# PipeEdge --------------------------------------------------------------------------------------


def read_pipeedge(
    models_yml: str,
    device_types_yml: str,
    devices_yml: str | None = None,
    model: str | None = None,
    batch_size: int | None = None,
    devices: list[Device] | None = None,
    network: Network | None = None,
    objective: str = "throughput",
    max_stages: int | None = None,
    aliases: Mapping[str, str] = PIPEEDGE_ALIASES,
) -> tuple[PipelineInstance, list[str]]:
    """The model's layers on the devices of devices.yml (or the given ones); also notes on what was
    renamed or left out."""
    notes: list[str] = []
    models = _mapping(load_yaml(models_yml), "models.yml")
    types = _mapping(load_yaml(device_types_yml), "device_types.yml")
    real = [k for k, v in models.items() if isinstance(v, Mapping) and v.get("layers")]
    if model is None:
        if not real:
            raise FormatError("models.yml: no model with layers")
        model = real[0]
    if model not in models or not models[model].get("layers"):
        raise FormatError(f"models.yml: no model {model!r} (models: {', '.join(real)})")
    spec = models[model]
    n = int(spec["layers"])
    mem = [float(x) for x in spec.get("mem_MB") or []]
    out = [int(x) for x in spec.get("parameters_out") or []]
    if len(mem) != n or len(out) != n:
        raise FormatError(
            f"models.yml: {model} has {n} layers but {len(mem)} mem_MB and {len(out)} parameters_out"
        )
    profiles: dict[str, tuple[list[float], int, int]] = {}  # type -> (time_s, batch, dtype bytes)
    for tname, t in types.items():
        entries = (t or {}).get("model_profiles") or {}
        for entry in entries.get(model) or []:
            if batch_size is None or int(entry["batch_size"]) == batch_size:
                times = [float(x) for x in entry["time_s"]]
                if len(times) != n:
                    raise FormatError(f"device_types.yml: {tname} has {len(times)} times for {n} layers")
                profiles[tname] = (
                    times,
                    int(entry["batch_size"]),
                    DTYPE_BYTES.get(str(entry.get("dtype")), 4),
                )
                break
    if not profiles:
        raise FormatError(f"device_types.yml: no profile of {model} (batch size {batch_size or 'any'})")
    batches = {b for _, b, _ in profiles.values()}
    if len(batches) > 1:
        raise FormatError(
            f"profiles of {model} at different batch sizes {sorted(batches)}: pass the batch size"
        )
    batch = batches.pop()
    dtype = max(d for _, _, d in profiles.values())
    if devices is None:
        if devices_yml is None:
            raise FormatError("give devices.yml or a device set")
        hosts = _mapping(load_yaml(devices_yml), "devices.yml")
        devices = []
        bw: dict[str, float] = {}
        for tname, names in hosts.items():
            if not names:
                continue
            profiled = aliases.get(tname, tname)
            if profiled != tname:
                notes.append(f"devices.yml type {tname} read as the profiled type {profiled}")
            if profiled not in profiles:
                notes.append(f"devices.yml type {tname}: no profile of {model}; its hosts are left out")
                continue
            t = types[profiled]
            for name in names:
                devices.append(
                    Device(name=str(name), type=profiled, memory_bytes=int(round(float(t["mem_MB"]) * MIB)))
                )
                bw[str(name)] = float(t["bw_Mbps"]) * MIB / 1e9
        if not devices:
            raise FormatError("devices.yml: no host of a profiled type")
        if network is None:
            widths = [bw[d.name] for d in devices]
            if len(set(widths)) == 1:
                network = Network(bandwidth_gbps=widths[0])
            else:
                network = Network(bandwidth_gbps=[[min(a, b) for b in widths] for a in widths])
    missing = sorted({d.type for d in devices} - set(profiles))
    if missing:
        raise FormatError(
            f"no profile of {model} for device type(s) {missing} (profiled: {sorted(profiles)})"
        )
    layers = [
        Layer(
            name=f"{model.rsplit('/', 1)[-1]}-{k}",
            time_ms={t: times[k] * 1e3 for t, (times, _, _) in profiles.items()},
            weight_bytes=int(round(mem[k] * MIB)),
            activation_bytes=out[k] * dtype * batch,
        )
        for k in range(n)
    ]
    instance = PipelineInstance(
        layers=layers,
        devices=devices,
        network=network or Network(bandwidth_gbps=1.0),
        objective=objective,  # type: ignore[arg-type]
        max_stages=max_stages,
    )
    return instance, notes


def read_pipeedge_dir(folder: Path, **kwargs: Any) -> tuple[PipelineInstance, list[str]]:
    def text(name: str) -> str:
        try:
            return (folder / name).read_text()
        except OSError as exc:
            raise FormatError(f"{folder / name}: cannot read: {exc.strerror or exc}") from None

    devices_yml = text("devices.yml") if kwargs.get("devices") is None else None
    return read_pipeedge(text("models.yml"), text("device_types.yml"), devices_yml, **kwargs)


def _mapping(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FormatError(f"{what}: expected a mapping at the top level")
    return value


# a YAML subset -----------------------------------------------------------------------------------


def load_yaml(text: str) -> Any:
    """Block mappings and sequences by indentation, flow sequences (over several lines), plain scalars
    (int, float, null, true/false, strings). Anything else (quotes, anchors, flow mappings, multi-line
    strings, tabs) is refused with the line number."""
    lines = _logical_lines(text)
    if not lines:
        return None
    value, i = _block(lines, 0, lines[0][1])
    if i != len(lines):
        raise FormatError(f"line {lines[i][0]}: unexpected indentation")
    return value


def _logical_lines(text: str) -> list[tuple[int, int, str]]:
    """(line number, indent, content) with comments removed and flow lists joined onto one line."""
    out: list[tuple[int, int, str]] = []
    pending: tuple[int, int, str] | None = None
    for n, raw in enumerate(text.splitlines(), 1):
        if "\t" in raw[: len(raw) - len(raw.lstrip())]:
            raise FormatError(f"line {n}: tabs in indentation")
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not line.strip():
            continue
        if any(c in line for c in "\"'&*!|>{}"):
            raise FormatError(f"line {n}: YAML beyond this reader's subset: {line.strip()[:60]!r}")
        if pending is not None:
            pending = (pending[0], pending[1], pending[2] + " " + line.strip())
        else:
            pending = (n, len(line) - len(line.lstrip()), line.strip())
        if pending[2].count("[") == pending[2].count("]"):
            out.append(pending)
            pending = None
    if pending is not None:
        raise FormatError(f"line {pending[0]}: unclosed [")
    return out


def _block(lines: list[tuple[int, int, str]], i: int, indent: int) -> tuple[Any, int]:
    if lines[i][2].startswith("- ") or lines[i][2] == "-":
        return _sequence(lines, i, indent)
    return _map(lines, i, indent)


def _sequence(lines: list[tuple[int, int, str]], i: int, indent: int) -> tuple[list[Any], int]:
    items: list[Any] = []
    while i < len(lines) and lines[i][1] == indent and (lines[i][2].startswith("- ") or lines[i][2] == "-"):
        n, _, content = lines[i]
        rest = content[1:].lstrip()
        inner = indent + (len(content) - len(rest))
        if not rest:
            if i + 1 < len(lines) and lines[i + 1][1] > indent:
                value, i = _block(lines, i + 1, lines[i + 1][1])
            else:
                value, i = None, i + 1
        elif _is_key(rest):
            # a mapping whose first key sits on the dash line; the others follow at the same column
            sub = [(n, inner, rest)]
            j = i + 1
            while j < len(lines) and lines[j][1] > indent:
                sub.append(lines[j])
                j += 1
            value, k = _map(sub, 0, inner)
            if k != len(sub):
                raise FormatError(f"line {sub[k][0]}: unexpected indentation")
            i = j
        else:
            value, i = _scalar(rest, n), i + 1
        items.append(value)
    return items, i


def _map(lines: list[tuple[int, int, str]], i: int, indent: int) -> tuple[dict[str, Any], int]:
    out: dict[str, Any] = {}
    while i < len(lines) and lines[i][1] == indent:
        n, _, content = lines[i]
        if not _is_key(content):
            raise FormatError(f"line {n}: expected `key: value`, got {content[:60]!r}")
        key, _, rest = content.partition(":")
        key, rest = key.strip(), rest.strip()
        if key in out:
            raise FormatError(f"line {n}: duplicate key {key!r}")
        i += 1
        if rest:
            out[key] = _scalar(rest, n)
        elif i < len(lines) and (
            lines[i][1] > indent or (lines[i][1] == indent and lines[i][2].startswith("- "))
        ):
            out[key], i = _block(lines, i, lines[i][1])
        else:
            out[key] = None
    return out, i


def _is_key(content: str) -> bool:
    if content.startswith("["):
        return False
    key, sep, rest = content.partition(":")
    return bool(sep) and bool(key.strip()) and (not rest or rest.startswith(" "))


def _scalar(text: str, n: int) -> Any:
    text = text.strip()
    if text.startswith("["):
        if not text.endswith("]"):
            raise FormatError(f"line {n}: a flow list must end with ]")
        body = text[1:-1].strip()
        if not body:
            return []
        if "[" in body:
            raise FormatError(f"line {n}: nested flow lists are beyond this reader's subset")
        return [_scalar(x, n) for x in body.split(",")]
    if text in ("", "~", "null", "Null", "NULL"):
        return None
    if text in ("true", "True", "false", "False"):
        return text.lower() == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text
