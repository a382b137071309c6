"""Rules that relate several fields of a pipeline instance; each error names its JSON path.

Bad input only: a well-formed instance whose layers cannot fit the devices is not an error but a proven
`infeasible` answer that says which stage fits nowhere (see explain.py).
"""

from __future__ import annotations

import math
from typing import Any

from models.pipeline import PipelineInstance
from solver.engine.errors import FieldError, InvalidInstance


def validate(inst: PipelineInstance) -> None:
    errors: list[FieldError] = []
    _unique(errors, "layers", [layer.name for layer in inst.layers])
    _unique(errors, "devices", [dev.name for dev in inst.devices])
    types: dict[str, list[int]] = {}
    for i, dev in enumerate(inst.devices):
        types.setdefault(dev.type, []).append(i)
    for t, members in types.items():
        speeds = {inst.devices[i].tflops for i in members}
        if len(speeds) > 1:
            i = next(i for i in members if inst.devices[i].tflops != inst.devices[members[0]].tflops)
            errors.append(
                FieldError(
                    ("devices", i, "tflops"),
                    f"devices of type {t} must share one tflops (devices[{members[0]}] has "
                    f"{inst.devices[members[0]].tflops})",
                    inst.devices[i].tflops,
                )
            )
    training = inst.mode == "training"
    for k, layer in enumerate(inst.layers):
        no_fwd, no_bwd = [], []
        for t, members in types.items():
            speed = inst.devices[members[0]].tflops
            if t not in layer.time_ms and (layer.flops is None or speed is None):
                no_fwd.append(t)
            has_backward = t in layer.backward_ms or (
                speed is not None and (layer.backward_flops is not None or layer.flops is not None)
            )
            if training and not has_backward:
                no_bwd.append(t)
        if no_fwd:
            users = ", ".join(f"{t} ({inst.devices[types[t][0]].name})" for t in no_fwd)
            errors.append(
                FieldError(
                    ("layers", k, "time_ms"),
                    f"no forward time for device type {users}: give time_ms for it, or flops with the "
                    "devices' tflops",
                    dict(layer.time_ms),
                )
            )
        if no_bwd:
            errors.append(
                FieldError(
                    ("layers", k, "backward_ms"),
                    f"training needs a backward time for device type {', '.join(no_bwd)}: give backward_ms "
                    "for it, or flops/backward_flops with the devices' tflops",
                    dict(layer.backward_ms),
                )
            )
        if len(errors) > 50:
            break
    if inst.training is not None and not training:
        errors.append(FieldError(("training",), "training settings need mode 'training'", "inference"))
    _network(errors, inst)
    if errors:
        raise InvalidInstance(errors)


def _unique(errors: list[FieldError], field: str, names: list[str]) -> None:
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen:
            errors.append(
                FieldError((field, i, "name"), f"duplicate name (also {field}[{seen[name]}])", name)
            )
        seen.setdefault(name, i)


def _network(errors: list[FieldError], inst: PipelineInstance) -> None:
    net = inst.network
    d = len(inst.devices)
    if net.links is not None:
        if net.bandwidth_gbps is not None:
            errors.append(
                FieldError(
                    ("network", "bandwidth_gbps"),
                    "give either bandwidth_gbps (with latency_ms) or links, not both",
                    net.bandwidth_gbps,
                )
            )
        if not isinstance(net.latency_ms, int | float) or net.latency_ms != 0:
            errors.append(
                FieldError(
                    ("network", "latency_ms"),
                    "with links, give each link its own latency_ms",
                    net.latency_ms,
                )
            )
        names = {dev.name for dev in inst.devices}
        known = _listing([dev.name for dev in inst.devices])
        for k, link in enumerate(net.links):
            for end in ("a", "b"):
                if getattr(link, end) not in names:
                    errors.append(
                        FieldError(
                            ("network", "links", k, end),
                            f"unknown device {getattr(link, end)!r}; the devices are {known}",
                            getattr(link, end),
                        )
                    )
            if link.a == link.b:
                errors.append(
                    FieldError(
                        ("network", "links", k, "b"),
                        f"a link joins two different devices; both ends are {link.b!r}",
                        link.b,
                    )
                )
        return
    if net.bandwidth_gbps is None:
        errors.append(
            FieldError(("network",), "give bandwidth_gbps (scalar or matrix) or links", net.model_dump())
        )
        return
    _scalar_or_matrix(errors, ("network", "bandwidth_gbps"), net.bandwidth_gbps, d, positive=True)
    _scalar_or_matrix(errors, ("network", "latency_ms"), net.latency_ms, d, positive=False)


def _listing(names: list[str], shown: int = 8) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _scalar_or_matrix(
    errors: list[FieldError], at: tuple[str, ...], value: Any, d: int, *, positive: bool
) -> None:
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0 or (positive and value <= 0):
            rule = "must be > 0 and finite" if positive else "must be >= 0 and finite"
            errors.append(FieldError(at, f"{rule}, got {value}", value))
        return
    if len(value) != d:
        errors.append(
            FieldError(at, f"a matrix needs one row per device ({d}), got {len(value)}", len(value))
        )
        return
    for i, row in enumerate(value):
        if len(row) != d:
            errors.append(
                FieldError((*at, i), f"a row needs one entry per device ({d}), got {len(row)}", len(row))
            )
            return
        for j, x in enumerate(row):
            if not math.isfinite(x) or x < 0:
                rule = (
                    "must be >= 0 and finite (0: no direct link)" if positive else "must be >= 0 and finite"
                )
                errors.append(FieldError((*at, i, j), f"{rule}, got {x}", x))
                return
