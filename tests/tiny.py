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
