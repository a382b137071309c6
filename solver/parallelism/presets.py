"""Model and GPU presets, from the public model configs and the vendors' datasheets.

GPU memory is taken in GiB at its nominal size ("80 GB" -> 80 GiB), as users and the issue speak of it.
Links are per GPU and per direction: NVLink 3/4 give 300/450 GB/s; PCIe Gen4 x16 32 GB/s; InfiniBand HDR
200 Gb/s = 25 GB/s and NDR 400 Gb/s = 50 GB/s per GPU; 100 Gb/s Ethernet per node for the L4/A10G hosts.
"""

from __future__ import annotations

from solver.parallelism.costmodel import Arch, Gpu

MODELS: dict[str, Arch] = {
    "llama-3-8b": Arch("Llama-3-8B", 32, 4096, 32, 8, 128, 14336, 128256),
    "llama-3-70b": Arch("Llama-3-70B", 80, 8192, 64, 8, 128, 28672, 128256),
    "mixtral-8x7b": Arch("Mixtral-8x7B", 32, 4096, 32, 8, 128, 14336, 32000, experts=8, top_k=2),
    "qwen2.5-32b": Arch("Qwen2.5-32B", 64, 5120, 40, 8, 128, 27648, 152064, qkv_bias=True),
}
# same architecture, longer context (the 3.1 releases)
MODELS["llama-3.1-8b"] = MODELS["llama-3-8b"].renamed("Llama-3.1-8B")
MODELS["llama-3.1-70b"] = MODELS["llama-3-70b"].renamed("Llama-3.1-70B")

GPUS: dict[str, Gpu] = {
    "A100-40GB": Gpu("A100-40GB", 40, 1555, 312, 300, 25, 8),
    "A100-80GB": Gpu("A100-80GB", 80, 2039, 312, 300, 25, 8),
    "H100-SXM": Gpu("H100-SXM", 80, 3350, 989, 450, 50, 8),
    "H200": Gpu("H200", 141, 4800, 989, 450, 50, 8),
    "L4": Gpu("L4", 24, 300, 121, 32, 12.5, 8),
    # AWS does not publish the A10G's tensor throughput; ~70 dense bf16 TFLOPS is the usual estimate
    "A10G": Gpu("A10G", 24, 600, 70, 32, 12.5, 8, approximate="dense bf16 TFLOPS (~70) is an estimate"),
}


def _key(name: str) -> str:
    return name.strip().lower()


_MODEL_KEYS = {_key(k): k for k in MODELS} | {_key(a.name): k for k, a in MODELS.items()}
_GPU_KEYS = {_key(k): k for k in GPUS} | {"a100": "A100-80GB", "h100": "H100-SXM", "a10": "A10G"}


def model_preset(name: str) -> Arch | None:
    key = _MODEL_KEYS.get(_key(name))
    return MODELS[key] if key else None


def gpu_preset(name: str) -> Gpu | None:
    key = _GPU_KEYS.get(_key(name))
    return GPUS[key] if key else None
