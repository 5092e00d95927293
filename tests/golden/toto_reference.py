"""Regenerate tests/golden/toto.json: golden values of the official Toto code (toto-ts 0.2.0).

Needs the official package's source and its model dependencies, in a scratch environment
(toto-ts pins old torch/numpy/pandas, so it is never a dependency of this project):

    pip download --no-deps toto-ts==0.2.0 -d build/ref/toto
    unzip -d build/ref/toto build/ref/toto/*.whl
    python -m venv build/ref/venv
    build/ref/venv/bin/pip install torch einops gluonts rotary-embedding-torch jaxtyping \
        lightning scipy huggingface_hub
    build/ref/venv/bin/python tests/golden/toto_reference.py --toto-src build/ref/toto

It builds the official model with the tiny config below, sets every parameter by a formula of
its sorted name index (our module tree has the same names, so tests rebuild the same weights),
runs one series through it and writes the mixture parameters, the patch scaler's statistics
and log-probabilities to toto.json. tests/test_toto_model.py compares our model with them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

CONFIG = {
    "patch_size": 4, "stride": 4, "embed_dim": 16, "num_layers": 2, "num_heads": 2,
    "mlp_hidden_dim": 24, "dropout": 0.0, "spacewise_every_n_layers": 2,
    "scaler_cls": "<class 'model.scaler.CausalPatchStdMeanScaler'>",
    "output_distribution_classes": ["<class 'model.distribution.MixtureOfStudentTsOutput'>"],
    "spacewise_first": False, "output_distribution_kwargs": {"k_components": 3},
    "use_memory_efficient_attention": False, "stabilize_with_global": True,
    "scale_factor_exponent": 10.0,
}  # fmt: skip


def formula_weights(model: torch.nn.Module) -> None:
    """parameter i of the sorted names = 0.3 sin(0.37 k + i), k the flat element index."""
    with torch.no_grad():
        for i, (_, p) in enumerate(sorted(model.named_parameters())):
            p.copy_(0.3 * torch.sin(torch.arange(p.numel()) * 0.37 + i).view_as(p))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--toto-src", required=True, type=Path,
                        help="folder holding the official toto/ package (toto-ts 0.2.0)")
    args = parser.parse_args()
    sys.path.insert(0, str(args.toto_src))
    from toto.model.toto import Toto  # noqa: PLC0415 - the official code, from the given path

    model = Toto(**CONFIG).eval()
    formula_weights(model)
    x = (100 + 3 * torch.sin(torch.arange(16) * 0.7)).view(1, 1, 16)
    with torch.no_grad():
        out = model.model(x, torch.ones_like(x, dtype=torch.bool), torch.zeros_like(x))
    mix = out.distribution
    comps = mix.component_distribution
    golden = {
        "config": CONFIG,
        "parameter_names": [name for name, _ in sorted(model.named_parameters())],
        "input": x.flatten().tolist(),
        "df_last": comps.df[0, 0, -1].tolist(),
        "loc_last": comps.loc[0, 0, -1].tolist(),
        "scale_last": comps.scale[0, 0, -1].tolist(),
        "probs_last": mix.mixture_distribution.probs[0, 0, -1].tolist(),
        "patch_loc": out.loc[0, 0, ::4].tolist(),
        "patch_scale": out.scale[0, 0, ::4].tolist(),
        "log_prob_zero_at_0_7_15": mix.log_prob(torch.zeros(1, 1, 16))[0, 0, [0, 7, 15]].tolist(),
    }
    path = Path(__file__).with_name("toto.json")
    path.write_text(json.dumps(golden, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
