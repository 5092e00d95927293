"""The tiny model configurations every test builds its models from (seconds on a CPU)."""

from cryptocast.models.kronos import PredictorConfig, TokenizerConfig
from cryptocast.models.toto import TotoConfig

TINY = TotoConfig(
    patch_size=4, stride=4, embed_dim=16, num_layers=2, num_heads=2, mlp_hidden_dim=24,
    dropout=0.0, spacewise_every_n_layers=2, output_distribution_kwargs={"k_components": 3},
)
TOKENIZER = dict(d_model=16, n_heads=2, ff_dim=32, n_enc_layers=2, n_dec_layers=2, s1_bits=3,
                 s2_bits=3, group_size=3)
PREDICTOR = dict(s1_bits=3, s2_bits=3, n_layers=1, d_model=16, n_heads=2, ff_dim=32)
TOK = TokenizerConfig(**TOKENIZER)
PRED = PredictorConfig(**PREDICTOR)


def section(path: str, **overrides) -> dict:
    """A section of the repository's params.yaml (dotted `path`), with `overrides`: settings
    have one home, so tests start from it."""
    from cryptocast.config import merge_params

    value = params()
    for key in path.split("."):
        value = value[key]
    return merge_params(value, overrides)


def finetune_settings(family: str, **overrides) -> dict:
    """params.yaml `finetune.<family>` as one configuration (no grid) with `overrides`."""
    settings = section(f"finetune.{family}", **overrides)
    settings.pop("grid")
    return settings


def params(**overrides) -> dict:
    """The repository's params.yaml with `overrides` merged in (mappings merge)."""
    import pathlib

    import yaml

    from cryptocast.config import merge_params

    base = yaml.safe_load((pathlib.Path(__file__).resolve().parents[1] / "params.yaml")
                          .read_text())
    return merge_params(base, overrides)


def eval_config(**overrides):
    from cryptocast.config import EvalConfig

    return EvalConfig(**section("eval", **overrides))


def split_config(**overrides):
    from cryptocast.config import SplitConfig

    return SplitConfig(**{k: v for k, v in section("eval", **overrides).items()
                          if k in ("interval", "val_steps", "test_steps")})


def data_config(**overrides):
    from cryptocast.config import DataConfig

    return DataConfig(**section("data", **overrides))
