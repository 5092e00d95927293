"""Toto architecture config, serialised with the official `config.json` keys."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from cryptocast.config import from_mapping

SCALER_CLS = "<class 'model.scaler.CausalPatchStdMeanScaler'>"
MIXTURE_CLS = "<class 'model.distribution.MixtureOfStudentTsOutput'>"
# Keys the official loader accepts but that change nothing in this implementation.
IGNORED_KEYS = ("pre_xformers_checkpoint",)


@dataclass(frozen=True)
class TotoConfig:
    """Constructor arguments of the official `Toto` module (Toto-Open-Base-1.0 uses
    patch 64, embed 768, 12 layers, 12 heads, mlp 3072, spacewise every 12, 24 components)."""

    patch_size: int = 16
    stride: int = 16
    embed_dim: int = 128
    num_layers: int = 4
    num_heads: int = 4
    mlp_hidden_dim: int = 256
    dropout: float = 0.1
    spacewise_every_n_layers: int = 4
    scaler_cls: str = SCALER_CLS
    output_distribution_classes: list[str] = field(default_factory=lambda: [MIXTURE_CLS])
    spacewise_first: bool = False
    output_distribution_kwargs: dict[str, Any] = field(
        default_factory=lambda: {"k_components": 16}
    )
    use_memory_efficient_attention: bool = False
    stabilize_with_global: bool = True
    scale_factor_exponent: float = 10.0
    # not an official key: closes reach the model divided by the last context close and
    # multiplied by this, so a forecast does not depend on the price's unit (None: the
    # official checkpoints' raw prices)
    price_reference: float | None = None

    def __post_init__(self) -> None:
        positive = ("patch_size", "embed_dim", "num_layers", "num_heads", "mlp_hidden_dim")
        for name in positive:
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"TotoConfig.{name} must be positive, got {getattr(self, name)}")
        if self.stride != self.patch_size:
            raise ValueError(
                f"TotoConfig.stride must equal patch_size (non-overlapping patches), "
                f"got stride={self.stride}, patch_size={self.patch_size}"
            )
        if self.embed_dim % self.num_heads or (self.embed_dim // self.num_heads) % 2:
            raise ValueError(
                f"TotoConfig.embed_dim ({self.embed_dim}) must split into num_heads "
                f"({self.num_heads}) heads of even size"
            )
        n = self.spacewise_every_n_layers
        if n != -1 and (n <= 0 or self.num_layers % n):
            raise ValueError(
                f"TotoConfig.spacewise_every_n_layers must be -1 or divide num_layers "
                f"({self.num_layers}), got {n}"
            )
        if self.scaler_cls != SCALER_CLS:
            raise ValueError(f"TotoConfig.scaler_cls: only {SCALER_CLS} is supported")
        if list(self.output_distribution_classes) != [MIXTURE_CLS]:
            raise ValueError(
                f"TotoConfig.output_distribution_classes: only [{MIXTURE_CLS}] is supported"
            )
        if set(self.output_distribution_kwargs) != {"k_components"}:
            raise ValueError(
                "TotoConfig.output_distribution_kwargs must be {'k_components': int}, got "
                f"{self.output_distribution_kwargs}"
            )
        if self.price_reference is not None and not self.price_reference > 0:
            raise ValueError(f"TotoConfig.price_reference must be positive or null, got "
                             f"{self.price_reference}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"TotoConfig.dropout must be in [0, 1), got {self.dropout}")

    @property
    def k_components(self) -> int:
        return int(self.output_distribution_kwargs["k_components"])

    @property
    def head_dim(self) -> int:
        return self.embed_dim // self.num_heads

    def to_dict(self) -> dict[str, Any]:
        """The `config.json` content (official key names)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TotoConfig:
        """Build from `config.json` content; unknown keys are an error naming them."""
        kept = {k: v for k, v in values.items() if k not in IGNORED_KEYS}
        return from_mapping(cls, kept, "TotoConfig (config.json)")
