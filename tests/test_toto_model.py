import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from tiny import TINY
from torch.nn.attention import SDPBackend, sdpa_kernel

from cryptocast.models.toto import Toto, TotoConfig, layers, load_checkpoint, save_checkpoint
from cryptocast.models.toto.layers import Attention, KVCache, RotaryXPos, attend
from cryptocast.models.toto.scaler import causal_patch_scale


def official_state(cfg: TotoConfig, fused_mlp: bool = False) -> dict[str, torch.Tensor]:
    """A state dict spelled out key by key in the official Toto-Open-Base layout."""
    d, p, k, h = cfg.embed_dim, cfg.patch_size, cfg.k_components, cfg.mlp_hidden_dim
    shapes = {
        "model.patch_embed.projection.weight": (d, p),
        "model.patch_embed.projection.bias": (d,),
        "model.unembed.weight": (d * p, d),
        "model.unembed.bias": (d * p,),
    }
    for head in ("df", "loc_proj", "scale_proj", "mixture_weights"):
        shapes[f"model.output_distribution.{head}.weight"] = (k, d)
        shapes[f"model.output_distribution.{head}.bias"] = (k,)
    up, down = ("mlp.0.w12", "mlp.0.w3") if fused_mlp else ("mlp.0", "mlp.2")
    for i in range(cfg.num_layers):
        pre = f"model.transformer.layers.{i}"
        shapes |= {
            f"{pre}.norm1.scale": (d,), f"{pre}.norm2.scale": (d,),
            f"{pre}.attention.wQKV.weight": (3 * d, d), f"{pre}.attention.wQKV.bias": (3 * d,),
            f"{pre}.attention.wO.weight": (d, d), f"{pre}.attention.wO.bias": (d,),
            f"{pre}.{up}.weight": (2 * h, d), f"{pre}.{up}.bias": (2 * h,),
            f"{pre}.{down}.weight": (d, h), f"{pre}.{down}.bias": (d,),
        }
    gen = torch.Generator().manual_seed(0)
    return {key: 0.2 * torch.randn(shape, generator=gen) for key, shape in shapes.items()}


def write_official(tmp_path, cfg, state, **extra_config):
    tmp_path.mkdir(parents=True, exist_ok=True)
    config = {**cfg.to_dict(), "use_memory_efficient_attention": True, **extra_config}
    (tmp_path / "config.json").write_text(json.dumps(config))
    save_file(state, tmp_path / "model.safetensors")


@pytest.mark.parametrize("fused_mlp", [False, True])
def test_official_layout_round_trips(tmp_path, fused_mlp):
    state = official_state(TINY, fused_mlp)
    # official checkpoints may carry the recomputed rotary frequencies; they are skipped
    state["model.transformer.rotary_emb.freqs"] = torch.ones(4)
    write_official(tmp_path / "official", TINY, state)
    model = load_checkpoint(tmp_path / "official")
    plain = {k.replace("mlp.0.w12", "mlp.0").replace("mlp.0.w3", "mlp.2"): v
             for k, v in state.items() if not k.endswith("rotary_emb.freqs")}
    assert set(model.state_dict()) == set(plain)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, plain[key], rtol=0, atol=0)

    save_checkpoint(model, tmp_path / "ours")
    files = sorted(p.name for p in (tmp_path / "ours").iterdir())
    assert files == ["config.json", "model.safetensors"]
    saved = load_file(tmp_path / "ours" / "model.safetensors")
    assert set(saved) == set(plain)
    config = json.loads((tmp_path / "ours" / "config.json").read_text())
    assert config["output_distribution_kwargs"] == {"k_components": 3}
    assert config["scaler_cls"] == "<class 'model.scaler.CausalPatchStdMeanScaler'>"
    reloaded = load_checkpoint(tmp_path / "ours")
    x = torch.randn(2, 1, 12).cumsum(-1) + 50
    mask = torch.ones_like(x, dtype=torch.bool)
    with torch.no_grad():
        a, b = model(x, mask), reloaded(x, mask)
    torch.testing.assert_close(a.distribution.loc, b.distribution.loc, rtol=0, atol=0)


def test_save_replaces_an_existing_checkpoint(tmp_path):
    save_checkpoint(Toto(TINY), tmp_path / "ckpt")
    second = Toto(TINY)
    save_checkpoint(second, tmp_path / "ckpt")
    loaded = load_checkpoint(tmp_path / "ckpt")
    torch.testing.assert_close(loaded.state_dict()["model.unembed.bias"],
                               second.state_dict()["model.unembed.bias"])
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]


def test_strict_key_matching(tmp_path):
    state = official_state(TINY)
    del state["model.unembed.bias"]
    write_official(tmp_path / "missing", TINY, state)
    with pytest.raises(ValueError, match=r"missing \['model.unembed.bias'\]"):
        load_checkpoint(tmp_path / "missing")
    state = official_state(TINY) | {"model.extra.weight": torch.zeros(1)}
    write_official(tmp_path / "extra", TINY, state)
    with pytest.raises(ValueError, match="unexpected"):
        load_checkpoint(tmp_path / "extra")
    write_official(tmp_path / "badkey", TINY, official_state(TINY), bogus_key=1)
    with pytest.raises(ValueError, match="bogus_key"):
        load_checkpoint(tmp_path / "badkey")
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_checkpoint(tmp_path / "nothing")


def formula_model() -> Toto:
    model = Toto(TINY).eval()
    with torch.no_grad():
        for i, (_, p) in enumerate(sorted(model.named_parameters())):
            p.copy_(0.3 * torch.sin(torch.arange(p.numel()) * 0.37 + i).view_as(p))
    return model


def test_matches_reference_numbers():
    """Golden values of the official toto-ts 0.2.0 code on the same formula weights
    (regenerated by tests/golden/toto_reference.py)."""
    golden = json.loads((Path(__file__).parent / "golden" / "toto.json").read_text())
    model = formula_model()
    assert [name for name, _ in sorted(model.named_parameters())] == golden["parameter_names"]
    x = torch.tensor(golden["input"]).view(1, 1, -1)
    with torch.no_grad():
        out = model(x, torch.ones_like(x, dtype=torch.bool))
    mix = out.distribution
    ours = {
        "df_last": mix.df[0, 0, -1],
        "loc_last": mix.loc[0, 0, -1],
        "scale_last": mix.scale[0, 0, -1],
        "probs_last": torch.softmax(mix.logits[0, 0, -1], -1),
        "patch_loc": out.loc[0, 0, ::4],
        "patch_scale": out.scale[0, 0, ::4],
        "log_prob_zero_at_0_7_15": mix.log_prob(torch.zeros(1, 1, 16))[0, 0, [0, 7, 15]],
    }
    for name, actual in ours.items():
        torch.testing.assert_close(actual, torch.tensor(golden[name]), rtol=0, atol=1e-4,
                                   msg=name)


@pytest.mark.parametrize("stabilize", [False, True])
def test_changing_a_future_candle_never_changes_an_earlier_forecast(stabilize):
    cfg = TotoConfig(**{**TINY.to_dict(), "stabilize_with_global": stabilize})
    model = Toto(cfg).eval()
    x = torch.randn(2, 1, 24).cumsum(-1) + 20
    mask = torch.ones_like(x, dtype=torch.bool)
    for changed in (9, 13, 22):
        y = x.clone()
        y[..., changed] += 7.0
        with torch.no_grad():
            a, b = model(x, mask), model(y, mask)
        # output step t belongs to the patch token t // 4, which has seen steps up to its end
        first_affected = (changed // 4) * 4
        for field in ("df", "loc", "scale", "logits"):
            ta, tb = getattr(a.distribution, field), getattr(b.distribution, field)
            torch.testing.assert_close(ta[..., :first_affected, :], tb[..., :first_affected, :],
                                       rtol=0, atol=0)
            assert not torch.equal(ta[..., first_affected:, :], tb[..., first_affected:, :])
        torch.testing.assert_close(a.loc[..., :first_affected], b.loc[..., :first_affected],
                                   rtol=0, atol=0)


def test_scaler_statistics_on_a_hand_made_series():
    # one left-padding patch, then 1..8
    data = torch.cat((torch.zeros(4), torch.arange(1.0, 9.0))).view(1, 1, 12)
    mask = torch.ones_like(data, dtype=torch.bool)
    mask[..., :4] = False
    scaled, loc, scale = causal_patch_scale(data, mask, 4, stabilize_with_global=False)
    # padding patch: no observations -> mean 0, variance 0, scale sqrt(0.1)
    # patch 1 (1..4): mean 2.5, sample var 5/3; patch 2 (1..8): mean 4.5, sample var 6
    expected_loc = [0.0, 2.5, 4.5]
    expected_scale = [math.sqrt(0.1), math.sqrt(5 / 3 + 0.1), math.sqrt(6 + 0.1)]
    torch.testing.assert_close(loc[0, 0, ::4], torch.tensor(expected_loc))
    torch.testing.assert_close(scale[0, 0, ::4], torch.tensor(expected_scale))
    torch.testing.assert_close(loc[0, 0, 4:8], torch.full((4,), 2.5))
    torch.testing.assert_close(scaled[0, 0, 11], torch.tensor((8 - 4.5) / math.sqrt(6.1)))
    # exponent 0 clamps every scale to the global (population) std of 1..8: var 5.25
    _, _, clamped = causal_patch_scale(data, mask, 4, scale_factor_exponent=0.0)
    torch.testing.assert_close(clamped[0, 0, ::4], torch.full((3,), math.sqrt(5.25 + 0.1)))
    # a prefix restricts the global statistics to the first steps (1..4 observed)
    _, _, prefix = causal_patch_scale(data, mask, 4, scale_factor_exponent=0.0, prefix_length=8)
    torch.testing.assert_close(prefix[0, 0, ::4], torch.full((3,), math.sqrt(1.25 + 0.1)))


def test_config_validation_names_the_parameter():
    with pytest.raises(ValueError, match="stride"):
        TotoConfig(patch_size=4, stride=2)
    with pytest.raises(ValueError, match="spacewise_every_n_layers"):
        TotoConfig(num_layers=4, spacewise_every_n_layers=3)
    with pytest.raises(ValueError, match="embed_dim"):
        TotoConfig(embed_dim=30, num_heads=4)


def test_spacewise_attention_over_one_variate_is_that_of_identical_variates():
    # two identical variates attend half to each: the values again, through the kernel path,
    # so the one-variate shortcut must match it (and lay the heads out alike)
    torch.manual_seed(0)
    attention = Attention(embed_dim=16, num_heads=4, dropout=0.1, timewise=False).eval()
    x = torch.randn(3, 1, 5, 16)
    one = attention(x, 0, None)
    two = attention(x.expand(3, 2, 5, 16), 0, None)
    assert one.shape == (3, 1, 5, 16)
    for variate in range(2):
        assert torch.allclose(one[:, 0], two[:, variate], atol=1e-6)
    # training with dropout keeps the kernel, which drops attention weights: not the shortcut
    assert not torch.allclose(attention.train()(x, 0, None), one)
    # the last query alone is a time-wise cut: a space-wise layer refuses it
    with pytest.raises(ValueError, match="last_query is for time-wise layers only"):
        attention.eval()(x, 0, None, last_query=True)


@pytest.mark.parametrize("spacewise_every", [2, -1])
def test_last_patch_only_equals_the_last_patch_of_the_full_pass(spacewise_every):
    # the last time-wise layer runs the last query only, and the layers after it the last
    # position only: the same mixture as slicing the full pass, with and without a KV cache
    cfg = TotoConfig(**{**TINY.to_dict(), "spacewise_every_n_layers": spacewise_every})
    torch.manual_seed(0)
    model = Toto(cfg).eval()
    x = torch.randn(3, 2, 24).cumsum(-1)
    mask = torch.ones_like(x, dtype=torch.bool)
    seen = []  # positions each layer's MLP runs on
    for layer in model.model.transformer.layers:
        layer.mlp.register_forward_hook(lambda _, args, out: seen.append(args[0].shape[2]))
    with torch.no_grad():
        full = model(x, mask)
        last = model(x, mask, last_patch_only=True)
        # the MLPs from the last time-wise layer on run one position (layers: time, time
        # for -1; time, space for 2)
        assert seen == [6, 6, 6 if spacewise_every == -1 else 1, 1]
        cached = {}
        for only in (False, True):  # the same cache state, then the last patches
            cache = KVCache()
            model(x[..., :16], mask[..., :16], kv_cache=cache, scaling_prefix_length=16)
            cached[only] = model(x, mask, kv_cache=cache, scaling_prefix_length=16,
                                 last_patch_only=only)
    p = cfg.patch_size
    for got, want in ((last, full), (cached[True], cached[False])):
        assert got.distribution.loc.shape == (3, 2, p, cfg.k_components)
        expected = want.distribution.map(lambda t: t[:, :, -p:])
        for name in ("logits", "df", "loc", "scale"):
            torch.testing.assert_close(getattr(got.distribution, name),
                                       getattr(expected, name), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(got.loc, want.loc[..., -p:])


def math_kernel(q, k, v, causal):
    with sdpa_kernel(SDPBackend.MATH):
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal)


@pytest.mark.parametrize("length", [1, 5, 8, 19, 32, 33])
@pytest.mark.parametrize(("rows", "head_dim"), [(1, 16), (7, 12), (64, 16)])
def test_inference_attention_is_the_math_kernel_bit_for_bit(length, rows, head_dim):
    # q, k, v laid out as the fused projection gives them (heads fastest), q and v copied
    # contiguous as inference does; k strided, or contiguous when it comes from a KV cache
    torch.manual_seed(length * rows)
    q, k, v = torch.randn(rows, length, 3, head_dim, 4).permute(2, 0, 4, 1, 3).unbind(0)
    cached_k = torch.cat((torch.randn(rows, 4, 3, head_dim), k), -2)
    cached_v = torch.cat((torch.randn(rows, 4, 3, head_dim), v), -2)
    for q_, k_, v_, causal in ((q, k, v, True),  # a full pass
                               (q[:, :, -1:], k, v, False),  # the last query only
                               (q[:, :, -1:], cached_k, cached_v, False)):  # a cached step
        want = math_kernel(q_, k_, v_, causal)
        assert torch.equal(attend(q_.contiguous(), k_, v_.contiguous(), causal), want)


def test_an_inference_pass_equals_the_kernels_and_training_keeps_the_kernel(monkeypatch):
    cfg = TotoConfig(**{**TINY.to_dict(), "spacewise_every_n_layers": 2})
    torch.manual_seed(0)
    model = Toto(cfg).eval()
    x = torch.randn(5, 2, 48).cumsum(-1)
    mask = torch.ones_like(x, dtype=torch.bool)
    with torch.inference_mode():
        ours = model(x, mask)
        monkeypatch.setattr(layers, "attend", math_kernel)
        kernels = model(x, mask)
    for name in ("logits", "df", "loc", "scale"):
        assert torch.equal(getattr(ours.distribution, name), getattr(kernels.distribution, name))
    monkeypatch.setattr(layers, "attend", None)  # training never calls it
    model.train()(x, mask).distribution.loc.sum().backward()


def test_rotary_tables_are_kept_in_inference_mode_only():
    rotary = RotaryXPos(8)
    q, k = torch.randn(2, 3, 6, 8), torch.randn(2, 3, 6, 8)
    fresh = rotary(q, k, offset=2)
    assert not rotary._tables  # outside inference mode they may need gradients
    with torch.inference_mode():
        first, again = rotary(q, k, offset=2), rotary(q, k, offset=2)
        assert list(rotary._tables) == [(6, 2, torch.float32, torch.device("cpu"), 3)]
        rotary(q, k, offset=3)
    assert len(rotary._tables) == 2
    for a, b, c in zip(fresh, first, again, strict=True):
        assert torch.equal(a, b) and torch.equal(b, c)


@pytest.mark.parametrize("inference", [False, True])
@pytest.mark.parametrize("length", [1, 7, 32])
def test_rotary_is_the_plain_formula_bit_for_bit_in_the_same_layout(length, inference):
    # keys rotated in the fused projection's layout (heads fastest), and the last queries
    # alone, give the values and the layout of rotating everything as [.., seq, head_dim]
    rotary = RotaryXPos(16)
    torch.manual_seed(length)
    q, k, _ = torch.randn(5, length, 3, 16, 4).permute(2, 0, 4, 1, 3).unbind(0)
    q = q.contiguous()
    (cos, sin, scale), per_head = rotary.tables(length, 3, q.dtype, heads=3)
    assert all(torch.equal(t[..., None].expand(*t.shape, 3), h)
               for t, h in zip((cos, sin, scale), per_head, strict=True))

    def rotate_pairs(x):  # (x0, x1, x2, x3, ...) -> (-x1, x0, -x3, x2, ...), spelled out
        return torch.stack((-x[..., 1::2], x[..., ::2]), dim=-1).flatten(-2)

    want_q = (q * cos + rotate_pairs(q) * sin) * scale
    want_k = (k * cos + rotate_pairs(k) * sin) / scale
    with torch.inference_mode(inference):
        got_q, got_k = rotary(q, k, offset=3)
        last_q, _ = rotary(q[:, :, -1:].contiguous(), k, offset=3)
    assert torch.equal(got_q, want_q) and torch.equal(got_k, want_k)
    assert got_k.stride() == want_k.stride()  # attend's rounding depends on the layout of k
    assert torch.equal(last_q, want_q[:, :, -1:])
