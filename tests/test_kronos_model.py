"""Kronos tokenizer/predictor: official layout, exact maths, cached sampling == full recompute."""

from __future__ import annotations

import json
import math

import pytest
import torch
from kronos_reference import _s2_logits, reference_generate
from safetensors.torch import load_file, save_file
from tiny import PREDICTOR, TOKENIZER

from cryptocast.models.kronos import (
    Kronos,
    KronosTokenizer,
    PredictorConfig,
    SamplingConfig,
    TokenizerConfig,
    generate,
    import_checkpoint,
    load_checkpoint,
    load_predictor,
    load_tokenizer,
    save_checkpoint,
)
from cryptocast.models.kronos.sampling import (
    distinct_rows,
    draw,
    draw_from_cdf,
    filtered_probs,
    unique_rows,
)
from cryptocast.models.kronos.tokenizer import bits_to_ids, ids_to_bits

TOK = TokenizerConfig(**{**TOKENIZER, "n_enc_layers": 3})  # deeper than tiny.py's
PRED = PredictorConfig(**{**PREDICTOR, "n_layers": 2})
BLOCK = ["norm1.weight", "self_attn.q_proj.weight", "self_attn.q_proj.bias",
         "self_attn.k_proj.weight", "self_attn.k_proj.bias", "self_attn.v_proj.weight",
         "self_attn.v_proj.bias", "self_attn.out_proj.weight", "self_attn.out_proj.bias",
         "self_attn.rotary.inv_freq", "norm2.weight", "ffn.w1.weight", "ffn.w2.weight",
         "ffn.w3.weight"]


def models(seed: int = 0) -> tuple[KronosTokenizer, Kronos]:
    torch.manual_seed(seed)
    return KronosTokenizer(TOK).eval(), Kronos(PRED).eval()


def test_tokenizer_official_keys_and_shapes():
    state = KronosTokenizer(TOK).state_dict()
    expected = {"embed.weight", "embed.bias", "head.weight", "head.bias", "quant_embed.weight",
                "quant_embed.bias", "post_quant_embed_pre.weight", "post_quant_embed_pre.bias",
                "post_quant_embed.weight", "post_quant_embed.bias", "tokenizer.bsq.basis",
                "tokenizer.bsq.group_basis"}
    expected |= {f"encoder.{i}.{k}" for i in range(2) for k in BLOCK}  # n_enc_layers - 1
    expected |= {f"decoder.0.{k}" for k in BLOCK}
    assert set(state) == expected
    assert state["quant_embed.weight"].shape == (6, 16)
    assert state["post_quant_embed_pre.weight"].shape == (16, 3)
    assert state["encoder.0.ffn.w1.weight"].shape == (32, 16)
    assert state["tokenizer.bsq.basis"].tolist() == [32, 16, 8, 4, 2, 1]


@pytest.mark.parametrize("learn_te", [True, False])
def test_predictor_official_keys(learn_te):
    cfg = PredictorConfig(**{**PRED.to_dict(), "learn_te": learn_te})
    state = Kronos(cfg).state_dict()
    suffix = "weight" if learn_te else "emb.weight"
    expected = {"embedding.emb_s1.weight", "embedding.emb_s2.weight",
                "embedding.fusion_proj.weight", "embedding.fusion_proj.bias", "norm.weight",
                "dep_layer.norm.weight", "head.proj_s1.weight", "head.proj_s1.bias",
                "head.proj_s2.weight", "head.proj_s2.bias"}
    expected |= {f"time_emb.{n}_embed.{suffix}"
                 for n in ("minute", "hour", "weekday", "day", "month")}
    expected |= {f"dep_layer.cross_attn.{k[10:]}" for k in BLOCK if k.startswith("self_attn")}
    expected |= {f"transformer.{i}.{k}" for i in range(2) for k in BLOCK}
    assert set(state) == expected
    assert state["embedding.fusion_proj.weight"].shape == (16, 32)
    assert state["head.proj_s2.weight"].shape == (8, 16)
    assert state["time_emb.day_embed." + suffix].shape == (32, 16)
    assert state["dep_layer.cross_attn.rotary.inv_freq"].shape == (2,)  # 4 heads of dim 4
    if not learn_te:
        table = state["time_emb.hour_embed.emb.weight"]
        assert table[3, 0] == pytest.approx(math.sin(3.0))
        assert table[3, 1] == pytest.approx(math.cos(3.0))


def test_rotary_inv_freq_values():
    inv = KronosTokenizer(TOK).state_dict()["encoder.0.self_attn.rotary.inv_freq"]
    assert torch.allclose(inv, 1.0 / 10000 ** (torch.arange(0, 8, 2).float() / 8))


def test_bits_ids_round_trip_bit0_first():
    assert bits_to_ids(torch.tensor([1.0, -1.0, 1.0])).item() == 5
    ids = torch.arange(64)
    assert torch.equal(bits_to_ids(ids_to_bits(ids, 6)), ids)


def test_bsq_quantises_on_sphere_with_straight_through_gradient():
    tok = KronosTokenizer(TOK)
    z = torch.randn(2, 5, 6, requires_grad=True)
    zq, loss = tok.tokenizer(z)
    assert torch.allclose(zq.abs(), torch.full_like(zq, 6**-0.5))
    assert torch.equal(zq > 0, z > 0)
    assert loss.ndim == 0 and torch.isfinite(loss)
    zq.sum().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0


def test_tokenizer_forward_shapes_and_causality():
    tok, _ = models()
    x = torch.randn(2, 7, 6)
    recon_s1, recon, loss = tok(x)
    assert recon_s1.shape == recon.shape == x.shape and loss.ndim == 0
    x2 = x.clone()
    x2[:, -1] += 3.0
    a, b = tok.encode(x), tok.encode(x2)
    assert torch.equal(a[0][:, :-1], b[0][:, :-1]) and torch.equal(a[1][:, :-1], b[1][:, :-1])
    s1, s2 = a
    s2b = s2.clone()
    s2b[:, -1] = (s2b[:, -1] + 1) % 8
    assert torch.allclose(tok.decode(s1, s2)[:, :-1], tok.decode(s1, s2b)[:, :-1])
    # decode from ids equals the forward reconstruction of the same codes
    assert torch.allclose(tok.decode(s1, s2), recon, atol=1e-5)
    assert torch.allclose(tok.decode_s1(s1), recon_s1, atol=1e-5)


def test_decode_suffix_equals_full_decode():
    tok, _ = models()
    s1, s2 = torch.randint(0, 8, (2, 9)), torch.randint(0, 8, (2, 9))
    n1, n2 = torch.randint(0, 8, (2, 4, 3)), torch.randint(0, 8, (2, 4, 3))
    out = tok.decode_suffix(n1, n2, tok.decoder_prefix(s1, s2))
    for b in range(2):
        for s in range(4):
            full = tok.decode(torch.cat((s1[b], n1[b, s]))[None],
                              torch.cat((s2[b], n2[b, s]))[None])
            assert torch.allclose(out[b, s], full[0, -3:], atol=1e-5)


def test_predictor_steps_equal_full_recompute():
    _, model = models()
    s1, s2 = torch.randint(0, 8, (2, 6)), torch.randint(0, 8, (2, 6))
    stamp = torch.randint(0, 7, (2, 8, 5))
    new1, new2 = torch.randint(0, 8, (2, 3, 2)), torch.randint(0, 8, (2, 3, 2))
    hidden, kv = model.context(s1, s2, stamp[:, :6])
    h, past = model.step(new1[..., :1], new2[..., :1], stamp[:, 6], kv, None)
    h2, _ = model.step(new1[..., 1:], new2[..., 1:], stamp[:, 7], kv, past)
    for b in range(2):
        for s in range(3):
            full = model.context(torch.cat((s1[b], new1[b, s]))[None],
                                 torch.cat((s2[b], new2[b, s]))[None], stamp[b:b + 1])[0]
            assert torch.allclose(h[b, s, 0], full[0, 6], atol=1e-5)
            assert torch.allclose(h2[b, s, 0], full[0, 7], atol=1e-5)


def test_s2_logits_shared_prefix_equal_official_dep_layer():
    _, model = models()
    hidden = model.context(torch.randint(0, 8, (2, 5)), torch.randint(0, 8, (2, 5)),
                           torch.randint(0, 7, (2, 5, 5)))[0]
    s1 = torch.randint(0, 8, (2, 4))
    ours = model.s2_logits(s1, model.dep_layer.cross_attn.memory_kv(hidden), None,
                           hidden[:, -1:])
    for b in range(2):
        ref = _s2_logits(model, hidden[b:b + 1].expand(4, -1, -1), s1[b])
        assert torch.allclose(ours[b], ref, atol=1e-5)


def test_decoder_prefix_equals_the_full_pass_without_the_last_blocks_work():
    tok = KronosTokenizer(TokenizerConfig(**{**TOKENIZER, "n_dec_layers": 3})).eval()
    s1, s2 = torch.randint(0, 8, (2, 9)), torch.randint(0, 8, (2, 9))
    recon, full = tok.decode_with_prefix(s1, s2)
    assert torch.equal(recon, tok.decode(s1, s2))
    ran = []
    hooks = [block.ffn.register_forward_hook(lambda m, i, o, n=n: ran.append(n))
             for n, block in enumerate(tok.decoder)]
    kv_only = tok.decoder_prefix(s1, s2)
    for hook in hooks:
        hook.remove()
    assert ran == [0]  # the last of the two blocks computes its keys/values only
    assert len(kv_only) == len(full) == 2
    assert all(torch.equal(a, b) for x, y in zip(kv_only, full, strict=True)
               for a, b in zip(x, y, strict=True))


def test_generate_reconstructs_the_last_context_candle_in_the_decoder_window():
    tok, model = models()
    x, stamp = torch.randn(2, 10, 6), torch.randint(0, 7, (2, 10, 5))
    future = torch.randint(0, 7, (2, 3, 5))
    cfg = SamplingConfig(temperature=1.0, top_p=0.9, sample_count=5)

    def generators():
        return [torch.Generator().manual_seed(b) for b in range(2)]

    plain, none = generate(tok, model, x, stamp, future, cfg, 12, generators())
    paths, last = generate(tok, model, x, stamp, future, cfg, 12, generators(), reconstruct=True)
    assert none is None and torch.equal(paths, plain)
    s1, s2 = tok.encode(x)
    window = tok.decode(s1[:, 1:], s2[:, 1:])  # 10 + 3 - 12 = 1: the window starts at 1
    assert torch.equal(last, window[:, -1])
    assert not torch.allclose(last, tok.decode(s1, s2)[:, -1])


@pytest.mark.parametrize("max_context", [32, 12])
def test_generate_greedy_equals_reference_loop(max_context):
    tok, model = models()
    x, stamp = torch.randn(2, 10, 6), torch.randint(0, 7, (2, 10, 5))
    future = torch.randint(0, 7, (2, 3, 5))
    cfg = SamplingConfig(temperature=0.7, top_k=1, sample_count=3)
    ours = generate(tok, model, x, stamp, future, cfg, max_context)[0]
    ref = reference_generate(tok, model, x, stamp, future, cfg, max_context)
    assert ours.shape == (2, 3, 3, 6)
    assert torch.allclose(ours, ref, atol=1e-5)


def test_distinct_rows_map_back_to_every_row():
    rows = torch.tensor([[[1, 2], [3, 4], [1, 2], [1, 2]], [[5, 5], [5, 5], [5, 5], [5, 5]]])
    distinct, inverse = distinct_rows(rows)
    assert distinct.shape == (2, 2, 2) and inverse.shape == (2, 4)
    for b in range(2):
        assert torch.equal(distinct[b, inverse[b]], rows[b])
    assert torch.equal(distinct[1], torch.tensor([[5, 5], [5, 5]]))  # padded with its first
    assert torch.equal(distinct_rows(rows[..., 0])[0][0], torch.tensor([1, 3]))


@pytest.mark.parametrize("shape", [(40,), (40, 2), (40, 3, 2), (1, 4)])
def test_unique_rows_is_torch_unique_along_rows(shape):
    rows = torch.randint(-3, 4, shape, generator=torch.Generator().manual_seed(len(shape)))
    distinct, inverse = unique_rows(rows)
    expected, expected_inverse = torch.unique(rows, dim=0, return_inverse=True)
    assert torch.equal(distinct, expected) and torch.equal(inverse, expected_inverse)


@pytest.mark.parametrize("n", [1, 3])
def test_draw_from_cdf_of_rows_is_the_draw_from_the_copied_rows(n):
    cdf = torch.rand(5, 64, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    cdf = cdf.cumsum(-1)
    rows = torch.tensor([4, 0, 0, 2, 4, 1, 3, 3, 0])
    ids = draw_from_cdf(cdf, n, torch.Generator().manual_seed(7), rows)
    assert ids.shape == (9, n)
    assert torch.equal(ids, draw_from_cdf(cdf[rows], n, torch.Generator().manual_seed(7)))


def test_generate_computes_equal_paths_once_bit_for_bit():
    """Paths that drew the same s1 share its s2 logits, and equal paths one decode: the
    samples equal, bit for bit, computing every path on its own."""
    tok, model = models()
    # 16 candles: with 5-11 keys, MKL's small kernels on AVX2 round a query row differently by
    # its position in the matrix (measured), and deduplication moves rows
    x, stamp = torch.randn(2, 16, 6), torch.randint(0, 7, (2, 16, 5))
    future = torch.randint(0, 7, (2, 1, 5))
    cfg = SamplingConfig(temperature=1.5, top_p=0.95, sample_count=40)  # 8 s1 ids: repeats

    def generators():
        return [torch.Generator().manual_seed(seed) for seed in (3, 4)]

    with torch.no_grad():
        gens = generators()
        s1_ctx, s2_ctx = tok.encode(x)
        hidden, _ = model.context(s1_ctx, s2_ctx, stamp)
        last = hidden[:, -1:, :]
        s1 = draw(filtered_probs(model.head.proj_s1(last[:, 0]), cfg), cfg.sample_count, gens)
        logits2 = model.s2_logits(s1, model.dep_layer.cross_attn.memory_kv(hidden), None, last)
        s2 = draw(filtered_probs(logits2, cfg), 1, gens)
        per_path = tok.decode_suffix(s1[..., None], s2, tok.decoder_prefix(s1_ctx, s2_ctx))
    assert len(torch.unique(s1[0])) < cfg.sample_count
    assert torch.equal(generate(tok, model, x, stamp, future, cfg, 32, generators())[0], per_path)


def test_generate_rejects_horizon_beyond_window():
    tok, model = models()
    with pytest.raises(ValueError, match="max_context"):
        generate(tok, model, torch.randn(1, 10, 6), torch.zeros(1, 10, 5, dtype=torch.long),
                 torch.zeros(1, 3, 5, dtype=torch.long), SamplingConfig(), 11)


def test_filtered_probs_top_k_and_top_p():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    top2 = filtered_probs(logits, SamplingConfig(top_k=2))
    assert torch.allclose(top2, torch.tensor([[0.625, 0.375, 0.0, 0.0]]))
    # cumulative 0.5, 0.8, 0.95: top_p 0.7 keeps the first two (the one crossing stays)
    nucleus = filtered_probs(logits, SamplingConfig(top_p=0.7))
    assert torch.allclose(nucleus, torch.tensor([[0.625, 0.375, 0.0, 0.0]]))
    hot = filtered_probs(logits, SamplingConfig(temperature=0.5, top_p=1.0))
    assert torch.allclose(hot, torch.softmax(logits / 0.5, -1))
    with pytest.raises(ValueError, match="temperature"):
        SamplingConfig(temperature=0.0)


def test_top_k_configs_of_one_distribution_compare_equal():
    """Under top-k, top-p has no effect (filtered_probs), so the config drops it."""
    assert SamplingConfig(top_k=2, top_p=0.5) == SamplingConfig(top_k=2, top_p=0.9)
    assert SamplingConfig(top_k=2, top_p=0.5).top_p == 1.0
    assert SamplingConfig(top_p=0.5) != SamplingConfig(top_p=0.9)
    with pytest.raises(ValueError, match="top_p"):
        SamplingConfig(top_k=2, top_p=1.5)


def test_top_k_keeps_exactly_what_a_full_sort_keeps():
    """The k-th largest logit by partial selection (or from a kept sort order) is the value a
    full sort gives, ties included, so the filtered probabilities are bit-identical."""
    torch.manual_seed(0)
    logits = torch.randn(3, 5, 1024).round(decimals=1)  # many ties at the threshold
    cfg = SamplingConfig(temperature=0.3, top_k=28)
    ranked = torch.sort(logits / cfg.temperature, dim=-1, descending=True).values
    kth = ranked[..., cfg.top_k - 1 : cfg.top_k]
    expected = (logits / cfg.temperature).masked_fill(logits / cfg.temperature < kth,
                                                      float("-inf")).softmax(-1)
    order = torch.sort(logits, dim=-1, descending=True).indices
    assert torch.equal(filtered_probs(logits, cfg), expected)
    assert torch.equal(filtered_probs(logits, cfg, order), expected)
    assert ((filtered_probs(logits, cfg) > 0).sum(-1) >= cfg.top_k).all()


def test_checkpoint_round_trip(tmp_path):
    tok, model = models()
    save_checkpoint(tok, tmp_path / "tok")
    save_checkpoint(model, tmp_path / "pred")
    assert json.loads((tmp_path / "tok" / "config.json").read_text()) == TOK.to_dict()
    tok2, model2 = load_tokenizer(tmp_path / "tok"), load_predictor(tmp_path / "pred")
    for a, b in ((tok, tok2), (model, model2)):
        for k, v in a.state_dict().items():
            assert torch.equal(v, b.state_dict()[k])


def test_load_official_layout_strict_keys(tmp_path):
    tok, _ = models()
    save_checkpoint(tok, tmp_path / "tok")
    weights = tmp_path / "tok" / "model.safetensors"
    state = load_file(str(weights))
    # the config-derived buffers may be absent from a checkpoint
    save_file({k: v for k, v in state.items() if "inv_freq" not in k and "bsq" not in k},
              str(weights))
    load_tokenizer(tmp_path / "tok")
    save_file({k: v for k, v in state.items() if k != "head.bias"}, str(weights))
    with pytest.raises(ValueError, match="missing keys.*head.bias"):
        load_tokenizer(tmp_path / "tok")
    save_file({**state, "extra.weight": torch.zeros(1)}, str(weights))
    with pytest.raises(ValueError, match="unexpected keys.*extra.weight"):
        load_tokenizer(tmp_path / "tok")
    cfg = tmp_path / "tok" / "config.json"
    cfg.write_text(json.dumps({**TOK.to_dict(), "bogus": 1}))
    with pytest.raises(ValueError, match="bogus"):
        load_tokenizer(tmp_path / "tok")


def test_import_checkpoint_validates_and_copies(tmp_path):
    tok, model = models()
    save_checkpoint(tok, tmp_path / "Kronos-Tokenizer")
    save_checkpoint(model, tmp_path / "Kronos-small")
    import_checkpoint(tmp_path / "Kronos-Tokenizer", tmp_path / "Kronos-small", tmp_path / "out")
    tok2, model2 = load_checkpoint(tmp_path / "out")
    assert torch.equal(tok2.state_dict()["head.weight"], tok.state_dict()["head.weight"])
    other = Kronos(PredictorConfig(**{**PRED.to_dict(), "s1_bits": 4}))
    save_checkpoint(other, tmp_path / "bad")
    with pytest.raises(ValueError, match="bits"):
        import_checkpoint(tmp_path / "Kronos-Tokenizer", tmp_path / "bad", tmp_path / "out2")
