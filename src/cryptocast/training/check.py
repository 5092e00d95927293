"""`cryptocast train check`: can this configuration learn at all? Seconds, not hours.

Overfit one fixed batch for a few dozen steps (a model that cannot drive its loss down on eight
windows it sees again and again will not learn from millions), and report the gradient norm of
each layer group at the first step (a group with a zero or exploding norm is wired wrong).
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import numpy as np
import torch

from cryptocast.models.kronos import Kronos, KronosTokenizer, PredictorConfig, TokenizerConfig
from cryptocast.models.kronos.inputs import normalise
from cryptocast.models.toto import Toto
from cryptocast.models.toto.distribution import finetune_loss
from cryptocast.runtime import autocast, current_device
from cryptocast.training.kronos import predictor_loss
from cryptocast.training.toto import model_config


def layer_group(name: str) -> str:
    """`model.transformer.layers.3.mlp.0.weight` -> `transformer.layers.3`;
    `transformer.2.ffn.w1.weight` -> `transformer.2`; `head.proj_s1.weight` -> `head`."""
    parts = name.removeprefix("model.").split(".")
    if parts[0] in ("transformer", "encoder", "decoder"):
        return ".".join(parts[:3] if parts[1] == "layers" else parts[:2])
    return parts[0]


def grad_norms(model: torch.nn.Module) -> dict[str, float]:
    squares: dict[str, float] = defaultdict(float)
    for name, p in model.named_parameters():
        if p.grad is not None:
            squares[layer_group(name)] += float(p.grad.detach().pow(2).sum())
    return {group: total**0.5 for group, total in squares.items()}


def _random_walks(batch: int, length: int, rng: np.random.Generator) -> np.ndarray:
    return 100 * np.exp(np.cumsum(rng.normal(0, 0.02, (batch, length)), axis=1))


def _toto_setup(architecture: dict[str, Any], loss_kind: str, rng: np.random.Generator,
                device: torch.device):
    model = Toto(model_config(architecture)).to(device)
    patch, context = model.config.patch_size, 8 * model.config.patch_size
    x = torch.tensor(_random_walks(8, context + patch, rng), dtype=torch.float32,
                     device=device)[:, None]
    mask = torch.ones_like(x, dtype=torch.bool)

    def loss() -> torch.Tensor:
        with autocast(device):
            out = model(x[..., :-patch], mask[..., :-patch])
        target = (x[..., patch:] - out.loc.float()) / out.scale.float()
        return finetune_loss(loss_kind, out.distribution.map(lambda t: t.float()), target)

    return model, loss


def _kronos_setup(architecture: dict[str, Any], loss_kind: str, rng: np.random.Generator,
                  device: torch.device):
    tokenizer = KronosTokenizer(TokenizerConfig.from_dict(architecture.get("tokenizer", {})))
    tokenizer = tokenizer.eval().to(device)
    model = Kronos(PredictorConfig.from_dict(architecture.get("predictor", {}))).to(device)
    walks = _random_walks(8, 64, rng)
    feats = np.stack([walks, walks * 1.01, walks * 0.99, walks, np.ones_like(walks),
                      walks], axis=-1)
    x, _, _ = normalise(feats, 5.0)
    with torch.no_grad():
        s1, s2 = tokenizer.encode(torch.from_numpy(x).float().to(device))
    stamp = torch.zeros(8, 64, 5, dtype=torch.long, device=device)

    def loss() -> torch.Tensor:
        with autocast(device):
            return predictor_loss(model, s1, s2, stamp)

    return model, loss


def overfit_one_batch(family: str, architecture: dict[str, Any], loss: str = "nll",
                      steps: int = 60, lr: float = 1e-3, seed: int = 0) -> dict[str, Any]:
    """Train `family`'s `architecture` (params models.<family>.architecture) on one fixed
    batch with `loss` (Toto's fine-tuning losses; Kronos: token cross-entropy): the loss
    before and after, their ratio, the first step's gradient norm per layer group, and the
    seconds taken; on the process's device (`runtime.device`)."""
    setups = {"toto": _toto_setup, "kronos": _kronos_setup}
    if family not in setups:
        raise ValueError(f"train check: family must be one of {sorted(setups)}, got {family!r}")
    torch.manual_seed(seed)
    started = time.perf_counter()
    model, loss_fn = setups[family](architecture, loss, np.random.default_rng(seed),
                                    current_device())
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    losses, norms = [], {}
    for step in range(steps):
        loss = loss_fn()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if step == 0:
            norms = grad_norms(model)
        optimizer.step()
        losses.append(float(loss.detach()))
    first, last = losses[0], float(np.mean(losses[-5:]))
    # losses can be negative (NLL): compare the drop with the starting scale
    learned = (first - last) / max(abs(first), 1e-8)
    return {"family": family, "steps": steps, "initial_loss": first, "final_loss": last,
            "relative_drop": learned, "grad_norms": norms,
            "seconds": time.perf_counter() - started}
