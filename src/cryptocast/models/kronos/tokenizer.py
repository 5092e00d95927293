"""KronosTokenizer: causal transformer autoencoder with Binary Spherical Quantization."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import TokenizerConfig
from .layers import KV, TransformerBlock, blocks_keys_values, run_blocks, run_blocks_suffix


def bits_to_ids(bits: torch.Tensor) -> torch.Tensor:
    """Token id = sum of 2^i over the positive coordinates i (bit 0 first). A coordinate of
    exactly 0 quantises to -1 (bit clear), as the official quantiser's `z > 0` does."""
    weights = 2 ** torch.arange(bits.shape[-1], device=bits.device, dtype=torch.long)
    return ((bits > 0).long() * weights).sum(-1)


def ids_to_bits(ids: torch.Tensor, n_bits: int) -> torch.Tensor:
    """Inverse of bits_to_ids: ids [...] -> +1/-1 floats [..., n_bits]."""
    mask = 2 ** torch.arange(n_bits, device=ids.device, dtype=torch.long)
    return ((ids.long().unsqueeze(-1) & mask) != 0).float() * 2 - 1


def _entropy(p: torch.Tensor) -> torch.Tensor:
    return -(p * torch.log(p + 1e-8)).sum(-1)


class BinarySphericalQuantizer(nn.Module):
    """Sign quantisation on the unit sphere with the BSQ commitment and entropy losses.

    Both entropy terms are the official code's: per bit, p = sigmoid(-4 z / sqrt(D)); the
    per-sample entropy is the mean over samples of sum_bits H(p), the codebook entropy is
    sum_bits H(mean over samples of p). (The official module also computes soft assignments to
    the 2^group_size sub-codes, but its analytical branch replaces them before averaging, so
    only the per-bit probabilities reach the loss; we compute just those.)
    """

    def __init__(self, dim: int, beta: float, gamma0: float, gamma: float, zeta: float,
                 group_size: int) -> None:
        super().__init__()
        self.dim = dim
        self.beta, self.gamma0, self.gamma, self.zeta = beta, gamma0, gamma, zeta
        # Persistent buffers of the official module (they appear in its state dict).
        self.register_buffer("basis", 2 ** torch.arange(dim - 1, -1, -1))
        self.register_buffer("group_basis", 2 ** torch.arange(group_size - 1, -1, -1))

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z (unit-normalised) -> (quantised z with straight-through gradient, BSQ loss)."""
        scale = self.dim**-0.5
        zq = (z + (torch.where(z > 0, 1.0, -1.0).to(z.dtype) - z).detach()) * scale
        commit = self.beta * ((zq.detach() - z) ** 2).sum(-1).mean()
        p = torch.sigmoid(-4 * z * scale)
        bit_probs = torch.stack((p, 1 - p), dim=-1)  # [..., D, 2]
        per_sample = _entropy(bit_probs).sum(-1).mean()
        codebook = _entropy(bit_probs.flatten(0, -3).mean(0)).sum()
        return zq, commit + self.zeta * (self.gamma0 * per_sample - self.gamma * codebook)


class BSQuantizer(nn.Module):
    """Splits the BSQ code into the coarse s1 bits and the fine s2 bits."""

    def __init__(self, s1_bits: int, s2_bits: int, beta: float, gamma0: float, gamma: float,
                 zeta: float, group_size: int) -> None:
        super().__init__()
        self.s1_bits, self.s2_bits = s1_bits, s2_bits
        self.bsq = BinarySphericalQuantizer(s1_bits + s2_bits, beta, gamma0, gamma, zeta,
                                            group_size)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.bsq(F.normalize(z, dim=-1))


class KronosTokenizer(nn.Module):
    """Encoder -> BSQ (s1, s2 tokens) -> decoder reconstructing the d_in features."""

    def __init__(self, config: TokenizerConfig) -> None:
        super().__init__()
        self.config = c = config
        block = [c.d_model, c.n_heads, c.ff_dim, c.ffn_dropout_p, c.attn_dropout_p,
                 c.resid_dropout_p]
        self.embed = nn.Linear(c.d_in, c.d_model)
        self.head = nn.Linear(c.d_model, c.d_in)
        # The official model builds n_layers - 1 blocks on each side.
        self.encoder = nn.ModuleList(TransformerBlock(*block) for _ in range(c.n_enc_layers - 1))
        self.decoder = nn.ModuleList(TransformerBlock(*block) for _ in range(c.n_dec_layers - 1))
        bits = c.s1_bits + c.s2_bits
        self.quant_embed = nn.Linear(c.d_model, bits)
        self.post_quant_embed_pre = nn.Linear(c.s1_bits, c.d_model)
        self.post_quant_embed = nn.Linear(bits, c.d_model)
        self.tokenizer = BSQuantizer(c.s1_bits, c.s2_bits, c.beta, c.gamma0, c.gamma, c.zeta,
                                     c.group_size)

    def latent(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, L, d_in] -> pre-quantisation latent [N, L, s1_bits + s2_bits] (its signs are
        the bits)."""
        z, _ = run_blocks(self.encoder, self.embed(x))
        return self.quant_embed(z)

    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        z, _ = run_blocks(self.decoder, z)
        return self.head(z)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x [N, L, d_in] -> (reconstruction from s1 alone, from s1+s2, BSQ loss)."""
        return self.reconstruct(self.latent(x))

    def reconstruct(self, latent: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Quantise a latent and decode it: (from s1 alone, from s1+s2, BSQ loss)."""
        quantized, bsq_loss = self.tokenizer(latent)
        s1 = self.config.s1_bits
        recon_s1 = self._decode(self.post_quant_embed_pre(quantized[..., :s1]))
        recon = self._decode(self.post_quant_embed(quantized))
        return recon_s1, recon, bsq_loss

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [N, L, d_in] -> (s1 ids, s2 ids), each [N, L]."""
        bits = self.latent(x)
        s1 = self.config.s1_bits
        return bits_to_ids(bits[..., :s1]), bits_to_ids(bits[..., s1:])

    def _embed_ids(self, s1_ids: torch.Tensor, s2_ids: torch.Tensor) -> torch.Tensor:
        c = self.config
        bits = torch.cat((ids_to_bits(s1_ids, c.s1_bits), ids_to_bits(s2_ids, c.s2_bits)), -1)
        return self.post_quant_embed(bits * (c.s1_bits + c.s2_bits) ** -0.5)

    def decode(self, s1_ids: torch.Tensor, s2_ids: torch.Tensor) -> torch.Tensor:
        """Token ids [N, L] -> reconstruction [N, L, d_in] from s1+s2."""
        return self._decode(self._embed_ids(s1_ids, s2_ids))

    def decode_s1(self, s1_ids: torch.Tensor) -> torch.Tensor:
        """Token ids [N, L] -> reconstruction [N, L, d_in] from the coarse s1 tokens alone."""
        c = self.config
        bits = ids_to_bits(s1_ids, c.s1_bits) * (c.s1_bits + c.s2_bits) ** -0.5
        return self._decode(self.post_quant_embed_pre(bits))

    def decoder_prefix(self, s1_ids: torch.Tensor, s2_ids: torch.Tensor) -> list[KV]:
        """Decoder keys/values of shared context tokens [B, T] (computed once per series)."""
        return blocks_keys_values(self.decoder, self._embed_ids(s1_ids, s2_ids))

    def decode_with_prefix(self, s1_ids: torch.Tensor, s2_ids: torch.Tensor
                           ) -> tuple[torch.Tensor, list[KV]]:
        """decode() and decoder_prefix() of tokens [B, T] from one pass: (reconstruction
        [B, T, d_in], keys/values)."""
        z, cache = run_blocks(self.decoder, self._embed_ids(s1_ids, s2_ids))
        return self.head(z), cache

    def decode_suffix(self, s1_ids: torch.Tensor, s2_ids: torch.Tensor,
                      prefix: list[KV]) -> torch.Tensor:
        """Per-path tokens [B, S, n] after the cached context -> reconstruction [B, S, n, d_in].

        Exact: the decoder is causal, so these outputs equal decoding context + path in full.
        """
        z = self._embed_ids(s1_ids, s2_ids)
        if not self.decoder:
            return self.head(z)
        z, _ = run_blocks_suffix(self.decoder, z, prefix, None)
        return self.head(z)
