"""The compute floor's FLOP accounting (bench/compute_floor.py) on shapes worked out by hand."""

import importlib.util
from pathlib import Path

import torch
import torch.nn.functional as F

_spec = importlib.util.spec_from_file_location(
    "compute_floor", Path(__file__).resolve().parents[1] / "bench" / "compute_floor.py")
compute_floor = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(compute_floor)


def test_a_matrix_product_counts_two_flops_per_multiply_add():
    x, w = torch.randn(6, 5), torch.randn(7, 5)
    assert compute_floor.counted_gflop(lambda: F.linear(x, w)) * 1e9 == 2 * 6 * 5 * 7


def test_causal_attention_counts_the_lower_triangle_only():
    batch, heads, length, depth = 2, 3, 5, 4
    q, k, v = (torch.randn(batch, heads, length, depth) for _ in range(3))
    pairs = {True: length * (length + 1) // 2, False: length * length}
    for causal in (True, False):
        flops = compute_floor.counted_gflop(
            lambda causal=causal: F.scaled_dot_product_attention(q, k, v, is_causal=causal))
        # scores q k^T and weighted values p v: 2 flops per multiply-add, depth each
        assert flops * 1e9 == 2 * batch * heads * pairs[causal] * (depth + depth)


def test_causal_pairs_with_more_keys_than_queries():
    assert compute_floor._causal_pairs(2, 4, True) == 1 + 2
    assert compute_floor._causal_pairs(4, 2, True) == 1 + 2 + 2 + 2
    assert compute_floor._causal_pairs(3, 4, False) == 12
