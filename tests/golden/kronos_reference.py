"""Regenerate tests/golden/kronos.json: golden values of the official Kronos code.

The official code (github.com/shiyu-coder/Kronos, MIT) is not on PyPI and is never a
dependency of this project: clone it (here into build/ref/Kronos) and give the folder that holds
its `model/`:

    python -m venv build/ref/venv
    build/ref/venv/bin/pip install torch einops huggingface_hub pandas tqdm
    build/ref/venv/bin/python tests/golden/kronos_reference.py --kronos-src build/ref/Kronos

It builds a tiny tokenizer and predictor, sets every parameter from its sorted name index
(seeded normal draws; our module trees have the same names, so tests rebuild the same
weights), and records:
token ids and reconstructions, the BSQ loss and its gradient, teacher-forced s1/s2 logits in
eval mode (the dependency layer attends to every position) and in training mode (causal), the
ids of a latent with exact zeros, and the ids of a context longer than max_context normalised
over every candle (the official predictor) or over the last max_context candles only (ours).
tests/test_kronos_golden.py compares our code with them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

TOKENIZER = {
    "d_in": 6, "d_model": 16, "n_heads": 2, "ff_dim": 32, "n_enc_layers": 3, "n_dec_layers": 3,
    "ffn_dropout_p": 0.0, "attn_dropout_p": 0.0, "resid_dropout_p": 0.0, "s1_bits": 4,
    "s2_bits": 4, "beta": 0.05, "gamma0": 1.0, "gamma": 1.1, "zeta": 0.05, "group_size": 4,
}  # fmt: skip
PREDICTOR = {
    "s1_bits": 4, "s2_bits": 4, "n_layers": 2, "d_model": 16, "n_heads": 2, "ff_dim": 32,
    "ffn_dropout_p": 0.0, "attn_dropout_p": 0.0, "resid_dropout_p": 0.0, "token_dropout_p": 0.0,
    "learn_te": True,
}  # fmt: skip
MAX_CONTEXT = 32
CLIP = 5.0


def formula_weights(model: torch.nn.Module) -> None:
    """parameter i of the sorted names = 0.5 x standard normal draws of a generator seeded
    with i (the same values whatever module tree holds the same names and shapes)."""
    with torch.no_grad():
        for i, (_, p) in enumerate(sorted(model.named_parameters())):
            generator = torch.Generator().manual_seed(i)
            p.copy_(0.5 * torch.randn(p.shape, generator=generator))


def series(n: int) -> np.ndarray:
    """A trending candle series [n, 6]: open, high, low, close, volume, amount."""
    t = np.arange(n, dtype=np.float64)
    close = 100 + 0.8 * t + 3 * np.sin(0.9 * t)
    volume = 50 + 10 * np.cos(0.5 * t)
    prices = np.column_stack([close - 0.5, close + 1.5, close - 1.5, close])
    return np.column_stack([prices, volume, volume * prices.mean(axis=1)])


def normalised(x: np.ndarray) -> torch.Tensor:
    """The official predictor's normalisation over every given candle, then clipping."""
    out = np.clip((x - x.mean(axis=0)) / (x.std(axis=0) + 1e-5), -CLIP, CLIP)
    return torch.tensor(out[None], dtype=torch.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kronos-src", required=True, type=Path,
                        help="folder holding the official model/ package")
    args = parser.parse_args()
    sys.path.insert(0, str(args.kronos_src))
    from model.kronos import Kronos, KronosTokenizer  # noqa: PLC0415 - the official code

    torch.manual_seed(0)
    tok, pred = KronosTokenizer(**TOKENIZER).eval(), Kronos(**PREDICTOR).eval()
    formula_weights(tok)
    formula_weights(pred)
    x = normalised(series(12))
    stamp = torch.tensor([[0, 0, i % 7, i % 28 + 1, i % 12 + 1] for i in range(12)])[None]
    with torch.no_grad():
        s1, s2 = tok.encode(x, half=True)
        decoded = tok.decode((s1, s2), half=True)
        (recon_s1, recon), bsq_loss, _, _ = tok(x)
        inputs = (s1[:, :-1], s2[:, :-1], stamp[:, :-1])
        logits1, logits2_eval = pred(*inputs, use_teacher_forcing=True, s1_targets=s1[:, 1:])
        pred.train()  # dropouts are 0: training mode differs only in the causal dep layer
        _, logits2_train = pred(*inputs, use_teacher_forcing=True, s1_targets=s1[:, 1:])
        pred.eval()
    z = torch.linspace(-1, 1, 12 * 8).view(1, 12, 8).requires_grad_()
    loss = tok.tokenizer(z)[0]
    loss.backward()
    loss = float(loss.detach())
    zeros = torch.tensor([[[0.0, 1.0, -1.0, 0.0, 2.0, 0.0, -0.5, 0.0]]])
    with torch.no_grad():
        zero_ids = tok.tokenizer(zeros, half=True)[2]
        long = series(40)
        full_ids = [ids[0, -MAX_CONTEXT:] for ids in tok.encode(normalised(long), half=True)]
        window_ids = tok.encode(normalised(long[-MAX_CONTEXT:]), half=True)
    golden = {
        "tokenizer": TOKENIZER, "predictor": PREDICTOR, "max_context": MAX_CONTEXT,
        "clip": CLIP,
        "tokenizer_parameter_names": [n for n, _ in sorted(tok.named_parameters())],
        "predictor_parameter_names": [n for n, _ in sorted(pred.named_parameters())],
        "x": x[0].tolist(), "stamp": stamp[0].tolist(),
        "s1": s1[0].tolist(), "s2": s2[0].tolist(),
        "decoded": decoded[0].tolist(), "recon_s1": recon_s1[0].tolist(),
        "recon": recon[0].tolist(), "bsq_loss_on_x": float(bsq_loss),
        "s1_logits": logits1[0].tolist(), "s2_logits_eval": logits2_eval[0].tolist(),
        "s2_logits_train": logits2_train[0].tolist(),
        "bsq_z": z.detach()[0].tolist(), "bsq_loss": loss, "bsq_grad": z.grad[0].tolist(),
        "zero_latent": zeros[0].tolist(), "zero_latent_s1": zero_ids[0][0].tolist(),
        "zero_latent_s2": zero_ids[1][0].tolist(),
        "long_context": long.tolist(),
        "long_full_norm_s1": full_ids[0].tolist(), "long_full_norm_s2": full_ids[1].tolist(),
        "long_window_norm_s1": window_ids[0][0].tolist(),
        "long_window_norm_s2": window_ids[1][0].tolist(),
    }  # fmt: skip
    path = Path(__file__).with_name("kronos.json")
    path.write_text(json.dumps(golden) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
