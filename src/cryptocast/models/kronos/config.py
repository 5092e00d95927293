"""Kronos configs: the fields are the official constructor arguments (the config.json keys)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from cryptocast.config import from_mapping

T = TypeVar("T", bound="_Config")


class _Config:
    """Shared dict round trip with clear errors on unknown or missing keys."""

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        return from_mapping(cls, data, f"{cls.__name__} (config.json)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]


def _positive(owner: str, **values: int) -> None:
    for name, value in values.items():
        if int(value) != value or value <= 0:
            raise ValueError(f"{owner}.{name} must be a positive integer, got {value!r}")


@dataclass(frozen=True)
class TokenizerConfig(_Config):
    """KronosTokenizer constructor arguments (Kronos-Tokenizer-base values as defaults)."""

    d_in: int = 6
    d_model: int = 256
    n_heads: int = 4
    ff_dim: int = 512
    n_enc_layers: int = 4
    n_dec_layers: int = 4
    ffn_dropout_p: float = 0.0
    attn_dropout_p: float = 0.0
    resid_dropout_p: float = 0.0
    s1_bits: int = 10
    s2_bits: int = 10
    beta: float = 0.05
    gamma0: float = 1.0
    gamma: float = 1.1
    zeta: float = 0.05
    group_size: int = 4
    # not an official key: prices (and amounts) reach the tokenizer divided by the last context
    # close and multiplied by this, so a forecast does not depend on the price's unit (None:
    # the official checkpoints' raw prices)
    price_reference: float | None = None

    def __post_init__(self) -> None:
        if self.price_reference is not None and not self.price_reference > 0:
            raise ValueError(f"tokenizer.price_reference must be positive or null, got "
                             f"{self.price_reference}")
        _positive("tokenizer", d_in=self.d_in, d_model=self.d_model, n_heads=self.n_heads,
                  ff_dim=self.ff_dim, n_enc_layers=self.n_enc_layers,
                  n_dec_layers=self.n_dec_layers, s1_bits=self.s1_bits, s2_bits=self.s2_bits,
                  group_size=self.group_size)
        if self.d_model % self.n_heads:
            raise ValueError("tokenizer.d_model must be divisible by tokenizer.n_heads")
        if (self.s1_bits + self.s2_bits) % self.group_size:
            raise ValueError("tokenizer.s1_bits + s2_bits must be divisible by group_size")


@dataclass(frozen=True)
class PredictorConfig(_Config):
    """Kronos (predictor) constructor arguments (Kronos-small values as defaults)."""

    s1_bits: int = 10
    s2_bits: int = 10
    n_layers: int = 8
    d_model: int = 512
    n_heads: int = 8
    ff_dim: int = 1024
    ffn_dropout_p: float = 0.25
    attn_dropout_p: float = 0.1
    resid_dropout_p: float = 0.25
    token_dropout_p: float = 0.1
    learn_te: bool = True

    def __post_init__(self) -> None:
        _positive("predictor", s1_bits=self.s1_bits, s2_bits=self.s2_bits,
                  n_layers=self.n_layers, d_model=self.d_model, n_heads=self.n_heads,
                  ff_dim=self.ff_dim)
        if self.d_model % self.n_heads or self.d_model % 4:
            raise ValueError("predictor.d_model must be divisible by n_heads and by 4")
