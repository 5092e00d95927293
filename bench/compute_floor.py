"""The least time a forecast's arithmetic can take on this machine: the floating-point work of
its matrix products (linear layers, attention, counted by torch's FlopCounterMode) at the best
rate this machine multiplies float32 matrices with torch. A forecast beats it only by doing
less arithmetic or multiplying faster than torch does here, so a speed goal below the floor
needs another model, kernel or machine.

Torch's CPU attention kernel counts only the query-key pairs causal attention must compute
(the lower triangle); attention that torch runs as plain matrix products (its math path)
counts as those products.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

# (rows, inner, cols): the models' own projections in their backtest batches (Kronos: 8
# windows x 288 candles, width 128, feed-forward 256; Toto: 64 series x 32 patches, width 64),
# and one large product
GEMM_SHAPES = ((2304, 128, 128), (2304, 128, 256), (2304, 256, 128), (2048, 64, 192),
               (2048, 64, 256), (1024, 1024, 1024))


def gemm_gflops(repeats: int = 20) -> dict[str, float]:
    """{"ROWSxINNERxCOLS": median GFLOP/s of that float32 matrix product} over `GEMM_SHAPES`."""
    rates = {}
    for rows, inner, cols in GEMM_SHAPES:
        a, b = torch.randn(rows, inner), torch.randn(inner, cols)
        a @ b  # warm-up
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - started)
        rates[f"{rows}x{inner}x{cols}"] = 2 * rows * inner * cols / statistics.median(times) / 1e9
    return rates


def _causal_pairs(queries: int, keys: int, causal: bool) -> int:
    """Query-key pairs attention must score: all, or those at or below the diagonal."""
    return sum(min(i + 1, keys) for i in range(queries)) if causal else queries * keys


def _cpu_attention_flops(query, key, value, dropout_p=0.0, is_causal=False, *args,
                         out_shape=None, **kwargs) -> int:
    """Scores (q k^T) and weighted values (p v) of torch's CPU attention kernel."""
    *batch, queries, depth = query
    pairs = _causal_pairs(queries, key[-2], is_causal)
    return 2 * pairs * (depth + value[-1]) * int(torch.Size(batch).numel())


def counted_gflop(fn: Callable[[], object]) -> float:
    """GFLOP of the matrix products and attention that `fn()` runs."""
    kernel = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
    with FlopCounterMode(display=False, custom_mapping={kernel: _cpu_attention_flops}) as count:
        fn()
    return count.get_total_flops() / 1e9


def compute_floor(fn: Callable[[], object], forecasts: int, measured_ms: float) -> dict:
    """{gflop_per_forecast, gemm_gflops (per shape), floor_ms (per forecast, at the best
    rate), measured_ms, measured_over_floor} of `fn`, which makes `forecasts` forecasts."""
    gflop = counted_gflop(fn) / forecasts
    rates = gemm_gflops()
    floor_ms = gflop / max(rates.values()) * 1000
    return {"gflop_per_forecast": round(gflop, 4),
            "gemm_gflops": {shape: round(rate, 1) for shape, rate in rates.items()},
            "floor_ms": round(floor_ms, 3), "measured_ms": measured_ms,
            "measured_over_floor": round(measured_ms / floor_ms, 2)}
