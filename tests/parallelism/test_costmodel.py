"""The cost model against the public facts: parameter counts, weights per GPU, KV bytes per token, the TPOT
order on 8xH100, and the calibration against vLLM 0.6 measurements (APEX)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from solver.parallelism import costmodel as cm
from solver.parallelism.presets import GPUS, MODELS, model_preset

H100 = GPUS["H100-SXM"]


def hw(
    tps: list[int], pps: list[int] | None = None, cal: cm.Calibration = cm.DEFAULT_CALIBRATION
) -> cm.Hardware:
    pps = pps or [1] * len(tps)
    n = len(tps)
    return cm.Hardware.build([H100] * n, [cal] * n, tps, pps, [1] * n, [True] * n, [True] * n)


def test_llama_3_70b_parameters_and_weights_per_gpu_at_tp2():
    a = MODELS["llama-3-70b"]
    assert round(a.parameters / 1e9, 2) == 70.55
    # the 80 decoder layers at TP2: 63.75 GiB per GPU (the figure) ...
    assert cm.layer_weight_bytes_per_gpu(a, 2, 1) / cm.GIB == pytest.approx(63.75, abs=1e-9)
    # ... plus the vocabulary-parallel embedding and LM head (PP = 1: both on the one stage): 65.71 GiB
    assert cm.weight_bytes_per_gpu(a, 2, 1) / cm.GIB == pytest.approx(65.707, abs=1e-3)
    assert a.weights_bytes / cm.GIB == pytest.approx(131.41, abs=0.01)
    # PP splits the layers; an end stage keeps one of the two vocabulary matrices
    assert cm.weight_bytes_per_gpu(a, 2, 2) / cm.GIB == pytest.approx(63.75 / 2 + 0.9785, abs=1e-3)


@pytest.mark.parametrize(
    ("name", "kib"), [("llama-3-8b", 128), ("llama-3-70b", 320), ("mixtral-8x7b", 128), ("qwen2.5-32b", 256)]
)
def test_kv_bytes_per_token_in_bf16(name, kib):
    assert MODELS[name].kv_bytes_per_token == kib * 1024


def test_kv_heads_are_replicated_when_tp_exceeds_them():
    a = MODELS["llama-3-8b"]  # 8 KV heads
    per_gpu = cm.kv_bytes_per_token_per_gpu(a, np.array([1, 8, 16]), np.array([1, 1, 1]))
    assert list(per_gpu) == [128 * 1024, 16 * 1024, 16 * 1024]  # TP16: one head on each GPU, not half


def test_moe_and_qkv_bias_parameter_counts():
    assert round(MODELS["mixtral-8x7b"].parameters / 1e9, 1) == 46.7
    assert (
        round(MODELS["mixtral-8x7b"].n_layers * MODELS["mixtral-8x7b"].active_layer_params / 1e9, 1) == 12.6
    )
    assert round(MODELS["qwen2.5-32b"].parameters / 1e9, 2) == 32.76
    assert model_preset("Llama-3.1-70B") == MODELS["llama-3.1-70b"]


def test_calibration_matches_vllm_decode_on_8xh100_within_15_percent():
    """Llama-3.1-70B, one replica, one sequence (1k-token context), vLLM 0.6 on 8xH100, measured in the
    APEX repository: TP2 32.6 ms, TP4 20.1 ms, TP8 14.1 ms per output token."""
    a = MODELS["llama-3.1-70b"]
    tpot_ms = cm.decode_tpot_s(a, hw([2, 4, 8]), np.ones(3), 1024 + 64) * 1e3
    measured = np.array([32.6, 20.1, 14.1])
    assert np.all(np.abs(tpot_ms / measured - 1) < 0.15), tpot_ms
    assert np.all(np.abs(tpot_ms / measured - 1) < 0.03), tpot_ms  # and in fact within 3%


def test_tpot_on_8xh100_at_low_load_orders_tp8_then_2xtp4_then_4xtp2():
    a = MODELS["llama-3-70b"]
    tps = [8, 4, 2]
    replicas = [1, 2, 4]
    h = hw(tps)
    kv = cm.kv_tokens(a, np.full(3, 80.0), 0.9, 1.5, np.array(tps), np.ones(3))
    curve = cm.curve(a, h, cm.Lengths(1024, 128, 1024, 128), kv)
    rate = 0.2  # req/s for the whole node, split evenly over the replicas
    tpot = cm.at_rate(curve, np.array([rate / n for n in replicas]))["tpot"]
    assert tpot[0] < tpot[1] < tpot[2], tpot


def test_calibration_is_overridable_per_gpu_type():
    a = MODELS["llama-3-70b"]
    base = cm.decode_tpot_s(a, hw([4]), np.ones(1), 1088)[0]
    slower = dataclasses.replace(cm.DEFAULT_CALIBRATION, hbm_efficiency=0.5)
    assert cm.decode_tpot_s(a, hw([4], cal=slower), np.ones(1), 1088)[0] > base * 1.4
    assert cm.calibration_for("L4").allreduce_latency_us > cm.calibration_for("H100-SXM").allreduce_latency_us


def test_capacity_grows_with_the_slo_and_stops_at_the_kv_cache():
    a = MODELS["llama-3-70b"]
    h = hw([2, 8])
    kv = cm.kv_tokens(a, np.full(2, 80.0), 0.9, 1.5, np.array([2, 8]), np.ones(2))
    c = cm.curve(a, h, cm.Lengths(1024, 128, 1024, 128), kv)
    tight = cm.capacity(c, cm.Slo(2.0, 0.04))
    loose = cm.capacity(c, cm.Slo(2.0, 0.2))
    assert np.all(loose.rate >= tight.rate) and loose.rate[1] > tight.rate[1]
    assert loose.binding[0] == "kv" and loose.batch_cap[0] == kv[0] // (1024 + 128)
    assert tight.binding[1] == "tpot" and tight.batch_cap[1] in (2 ** np.arange(11)).tolist()
    # at the capacity the TPOT target holds, a little above it does not
    at = cm.at_rate(c, tight.rate)
    assert at["tpot"][1] <= 0.04 * (1 + 1e-6)
    assert cm.at_rate(c, tight.rate * 1.01)["tpot"][1] > 0.04
    # a recomputation at the chosen batch cap gives the same capacity (what the checker relies on)
    again = cm.capacity(c, cm.Slo(2.0, 0.04), max_batch=tight.batch_cap)
    assert np.allclose(again.rate, tight.rate, rtol=0, atol=1e-12)


def test_tp_cuts_prefill_and_pp_adds_stages_to_every_token():
    a = MODELS["llama-3-70b"]
    pf = cm.prefill_s(a, hw([2, 4, 8]), 2048)
    assert pf[0] > pf[1] > pf[2]
    tp4pp2 = cm.decode_tpot_s(a, hw([4], [2]), np.ones(1), 1088)[0]
    tp4 = cm.decode_tpot_s(a, hw([4]), np.ones(1), 1088)[0]
    assert tp4pp2 > tp4 * 0.95  # a token still crosses all 80 layers
