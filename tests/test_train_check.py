"""`cryptocast train check`: overfitting one batch, gradient norms per layer group."""

from __future__ import annotations

import yaml
from click.testing import CliRunner
from tiny import PREDICTOR, TOKENIZER
from tiny import params as full_params

from cryptocast.cli import main
from cryptocast.training.check import layer_group, overfit_one_batch

TOTO = {"patch_size": 4, "stride": 4, "embed_dim": 16, "num_layers": 2, "num_heads": 2,
        "mlp_hidden_dim": 16, "spacewise_every_n_layers": 2, "k_components": 2}
PARAMS = {"models": {"toto": {"architecture": TOTO},
                     "kronos": {"architecture": {"tokenizer": TOKENIZER,
                                                 "predictor": PREDICTOR}}}}


def test_layer_groups():
    assert layer_group("model.transformer.layers.3.mlp.0.weight") == "transformer.layers.3"
    assert layer_group("transformer.2.ffn.w1.weight") == "transformer.2"
    assert layer_group("model.patch_embed.projection.bias") == "patch_embed"
    assert layer_group("head.proj_s1.weight") == "head"


def test_both_families_overfit_one_batch():
    for family in ("toto", "kronos"):
        result = overfit_one_batch(family, PARAMS["models"][family]["architecture"], steps=40,
                                   lr=3e-3)
        assert result["relative_drop"] > 0.3, result
        assert result["grad_norms"] and all(n > 0 for n in result["grad_norms"].values())


def test_a_configuration_that_cannot_learn_fails(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(full_params(**PARAMS)))
    ok = CliRunner().invoke(main, ["train", "check", "--params", str(params), "--family", "toto",
                                   "--steps", "40", "--lr", "3e-3"])
    assert ok.exit_code == 0, ok.output
    assert "transformer.layers.1" in ok.output and "ok: the loss fell by" in ok.output
    frozen = CliRunner().invoke(main, ["train", "check", "--params", str(params), "--family",
                                       "toto", "--steps", "10", "--lr", "0"])
    assert frozen.exit_code == 1 and "does not learn" in frozen.output
