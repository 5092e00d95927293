"""The pretrain stage's dispatch: official checkpoints are imported instead of trained."""

import pytest
import torch

from cryptocast.models.toto import Toto, TotoConfig, load_checkpoint, save_checkpoint
from cryptocast.training import pretrain_family

TINY = TotoConfig(
    patch_size=4, stride=4, embed_dim=16, num_layers=2, num_heads=2, mlp_hidden_dim=24,
    dropout=0.0, spacewise_every_n_layers=2, output_distribution_kwargs={"k_components": 3},
)


def test_official_toto_checkpoint_is_imported_not_trained(tmp_path):
    torch.manual_seed(0)
    official = tmp_path / "Toto-Open-Base"
    save_checkpoint(Toto(TINY), official)
    params = {"seed": 0, "models": {"toto": {"checkpoint": str(official)}}, "pretrain": {}}
    metrics = pretrain_family(
        "toto", params, tmp_path / "no-data", tmp_path / "out", tmp_path / "plots", tmp_path / "st"
    )
    assert metrics["imported"] == 1.0
    expected = load_checkpoint(official).state_dict()
    got = load_checkpoint(tmp_path / "out").state_dict()
    assert expected.keys() == got.keys()
    assert all(torch.equal(expected[k], got[k]) for k in expected)


def test_unknown_family_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="unknown model family 'chronos'"):
        pretrain_family("chronos", {}, tmp_path, tmp_path, tmp_path, tmp_path)
