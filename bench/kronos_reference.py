"""Reference-style sampling loop (the official algorithm), for benchmarks and exactness tests
(tests import it from here: it is not part of the package).

The context is repeated sample_count times and the whole window is recomputed at every step;
no cache and no sharing. It samples the same distribution as `sampling.generate`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats

from cryptocast.models.kronos import Kronos, KronosTokenizer, SamplingConfig
from cryptocast.models.kronos.sampling import draw, filtered_probs


def _s2_logits(model: Kronos, hidden: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
    """Official inference dep layer: one query, every hidden state, no mask, no rotation."""
    attn = model.dep_layer.cross_attn
    n, length, d = hidden.shape
    q = attn.q_proj(model.embedding.emb_s1(s1))[:, None].view(n, 1, attn.n_heads, -1)
    k = attn.k_proj(hidden).view(n, length, attn.n_heads, -1)
    v = attn.v_proj(hidden).view(n, length, attn.n_heads, -1)
    out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
    out = attn.out_proj(out.transpose(1, 2).reshape(n, 1, d))[:, 0]
    return model.head.proj_s2(model.dep_layer.norm(hidden[:, -1] + out))


@torch.no_grad()
def reference_generate(tokenizer: KronosTokenizer, model: Kronos, x: torch.Tensor,
                       stamp: torch.Tensor, future_stamp: torch.Tensor, cfg: SamplingConfig,
                       max_context: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Same contract as `sampling.generate`: x [B, T, d_in] -> outputs [B, S, H, d_in]."""
    b, t, _ = x.shape
    s, horizon = cfg.sample_count, future_stamp.shape[1]
    rep = lambda a: a.repeat_interleave(s, dim=0)  # noqa: E731
    generators = [generator] * (b * s)
    s1_all, s2_all = tokenizer.encode(rep(x))
    stamps = rep(torch.cat((stamp, future_stamp), dim=1))
    for i in range(horizon):
        end = t + i
        start = max(0, end - max_context)
        hidden = model.context(s1_all[:, start:end], s2_all[:, start:end],
                               stamps[:, start:end])[0]
        s1 = draw(filtered_probs(model.head.proj_s1(hidden[:, -1]), cfg), 1, generators)[:, 0]
        s2 = draw(filtered_probs(_s2_logits(model, hidden, s1), cfg), 1, generators)[:, 0]
        s1_all = torch.cat((s1_all, s1[:, None]), dim=1)
        s2_all = torch.cat((s2_all, s2[:, None]), dim=1)
    start = max(0, t + horizon - max_context)
    out = tokenizer.decode(s1_all[:, start:], s2_all[:, start:])[:, -horizon:]
    return out.reshape(b, s, horizon, -1)


def same_distribution_pvalue(a: np.ndarray, b: np.ndarray, tol: float = 1e-4) -> float:
    """Two-sample KS p-value of two sets of decoded values (normalised units).

    One token path decodes to values that differ in the last float bits between the two
    computation orders; values closer than `tol` are first merged into one atom (each mapped
    to the smallest value of its cluster), so such noise does not look like distinct atoms.
    """
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    both = np.sort(np.concatenate((a, b)))
    starts = np.concatenate(([True], np.diff(both) > tol))
    atoms = both[starts]
    snap = lambda v: atoms[np.searchsorted(atoms, v, side="right") - 1]  # noqa: E731
    return float(stats.ks_2samp(snap(a), snap(b)).pvalue)
