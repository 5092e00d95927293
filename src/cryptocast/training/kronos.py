"""pretrain@kronos: the tokenizer first (reconstruction), then the predictor (token CE)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from cryptocast.config import from_mapping
from cryptocast.models.kronos import (
    Kronos,
    KronosTokenizer,
    PredictorConfig,
    TokenizerConfig,
    import_checkpoint,
    save_checkpoint,
)
from cryptocast.models.kronos.inputs import CLOSE, denormalise
from cryptocast.models.kronos.tokenizer import ids_to_bits
from cryptocast.runtime import autocast, current_device
from cryptocast.training.common import (
    ResumableState,
    lr_at,
    optimizer_step,
    seed_everything,
    set_torch_rng_state,
    torch_rng_state,
    write_curve,
)
from cryptocast.training.kronos_windows import (
    ValidationWindows,
    WindowSampler,
    validation_windows,
)


@dataclass(frozen=True)
class PhaseParams:
    """Optimisation of one phase: AdamW, linear warm-up then cosine decay to 10%."""

    steps: int
    lr: float
    weight_decay: float
    warmup: int
    eval_every: int


@dataclass(frozen=True)
class PretrainParams:
    """params.yaml `pretrain.kronos`."""

    window: int
    min_window: int  # each batch draws its window length uniformly in [min_window, window]
    batch_size: int
    clip: float
    eval_window: int
    checkpoint_every: int
    # total sampling mass per candle interval (None: uniform over all window start positions)
    interval_weights: dict[str, float] | None
    # weight of the auxiliary loss that makes the s1 bits a binary code of the normalised close
    # (0: the reference training, reconstruction and BSQ losses only)
    close_code_weight: float
    tokenizer: PhaseParams
    predictor: PhaseParams

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PretrainParams:
        data = dict(data)
        for phase in ("tokenizer", "predictor"):
            data[phase] = from_mapping(PhaseParams, data.get(phase), f"pretrain.kronos.{phase}")
        params = from_mapping(cls, data, "pretrain.kronos")
        weights = params.interval_weights
        if weights is not None and (not weights or min(weights.values()) < 0
                                    or sum(weights.values()) <= 0):
            raise ValueError("pretrain.kronos.interval_weights: need non-negative weights with "
                             "a positive sum")
        if params.close_code_weight < 0:
            raise ValueError("pretrain.kronos.close_code_weight must be >= 0")
        if not 2 <= params.min_window <= params.window:
            raise ValueError("pretrain.kronos: need 2 <= min_window <= window")
        for phase in (params.tokenizer, params.predictor):
            if phase.steps < 1 or phase.eval_every < 1:
                raise ValueError("pretrain.kronos: steps and eval_every must be >= 1")
        return params


def weight_intervals(sampler: WindowSampler, intervals: list[str],
                     weights: dict[str, float]) -> None:
    """Rescale the sampler's window probabilities so each interval gets its share of
    `weights` (within an interval, still uniform over start positions); `intervals` names the
    interval of each sampler series."""
    missing = sorted(set(intervals) - set(weights))
    if missing:
        raise ValueError(f"pretrain.kronos.interval_weights: no weight for intervals {missing}")
    names = np.array(intervals)
    probs = sampler.weights.copy()
    for name in set(intervals):
        mask = names == name
        probs[mask] *= weights[name] / probs[mask].sum()
    if probs.sum() <= 0:
        raise ValueError("pretrain.kronos.interval_weights: every training interval has weight 0")
    sampler.weights = probs / probs.sum()


def close_code_bits(close: torch.Tensor, n_bits: int, clip: float) -> torch.Tensor:
    """Normalised closes [...] -> 0/1 bits [..., n_bits] of their cell on a uniform grid of
    2^n_bits cells over [-clip, clip], bit i first (so a token id built from these bits is
    the cell index: ids are ordered by price level)."""
    cells = ((close + clip) / (2 * clip) * 2**n_bits).floor().long().clamp(0, 2**n_bits - 1)
    return (ids_to_bits(cells, n_bits) + 1) / 2


# BCE logits = this x the raw latent, so a confident bit needs no large weights.
CODE_LOGIT_SCALE = 4.0


def tokenizer_loss(model: KronosTokenizer, x: torch.Tensor, close_code_weight: float = 0.0,
                   clip: float = 5.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Reconstruction MSE from s1 and from s1+s2 plus the BSQ loss, plus `close_code_weight` x
    the BCE of the s1 bits against `close_code_bits` of the close; also the s1+s2 MSE."""
    latent = model.latent(x)
    recon_s1, recon, bsq = model.reconstruct(latent)
    mse = F.mse_loss(recon, x)
    loss = F.mse_loss(recon_s1, x) + mse + bsq
    if close_code_weight > 0:
        s1 = model.config.s1_bits
        target = close_code_bits(x[..., CLOSE], s1, clip)
        code = F.binary_cross_entropy_with_logits(CODE_LOGIT_SCALE * latent[..., :s1], target)
        loss = loss + close_code_weight * code
    return loss, mse


def predictor_loss(model: Kronos, s1: torch.Tensor, s2: torch.Tensor,
                   stamp: torch.Tensor) -> torch.Tensor:
    """Mean of the s1 and s2 next-token cross-entropies (s2 teacher-forced on the true s1)."""
    logits1, logits2 = model(s1[:, :-1], s2[:, :-1], stamp[:, :-1], s1[:, 1:])
    ce1 = F.cross_entropy(logits1.flatten(0, 1), s1[:, 1:].flatten())
    ce2 = F.cross_entropy(logits2.flatten(0, 1), s2[:, 1:].flatten())
    return (ce1 + ce2) / 2


@torch.no_grad()
def tokenizer_close_errors(model: KronosTokenizer, windows: list[ValidationWindows]
                           ) -> dict[str, float]:
    """Round trip of each window's target close (normalised on the lookback, as a forecast
    is): median and mean |reconstructed / actual - 1| from s1+s2, the median from s1 alone,
    the normalised MSE, and the naive absolute return error |close / prev_close - 1| of the
    same targets, as a median and as a mean (pct_return_mae), so ratios compare like with like."""
    model.eval()
    device = next(model.parameters()).device
    full, coarse, mse, naive = [], [], [], []
    for w in windows:
        x = w.x.to(device)
        with autocast(device):
            s1, s2 = model.encode(x)
            recon, recon_s1 = model.decode(s1, s2).float(), model.decode_s1(s1).float()
        mse.append(((recon - x) ** 2).mean(dim=(1, 2)).cpu().numpy())
        for out, recon_out in ((full, recon), (coarse, recon_s1)):
            close = denormalise(recon_out[:, -1, CLOSE].double().cpu().numpy(),
                                w.mean[:, 0, CLOSE], w.std[:, 0, CLOSE])
            out.append(np.abs(close / w.close - 1))
        naive.append(np.abs(w.close / w.prev_close - 1))
    full, naive = np.concatenate(full), np.concatenate(naive)
    return {
        "close_err_median_s1s2": float(np.median(full)),
        "close_err_mean_s1s2": float(np.mean(full)),
        "close_err_median_s1": float(np.median(np.concatenate(coarse))),
        "recon_mse": float(np.mean(np.concatenate(mse))),
        "naive_abs_return_median": float(np.median(naive)),
        "naive_pct_return_mae": float(np.mean(naive)),
    }


ValidationTokens = list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


@torch.no_grad()
def validation_tokens(tokenizer: KronosTokenizer, windows: list[ValidationWindows]
                      ) -> ValidationTokens:
    """The predictor's validation inputs, per window set (s1 ids [N, L], s2 ids [N, L], stamp
    [N, L, 5]) on the tokenizer's device: encoded once per frozen tokenizer."""
    tokenizer.eval()
    device = next(tokenizer.parameters()).device
    tokens = []
    for w in windows:
        with autocast(device):
            s1, s2 = tokenizer.encode(w.x.to(device))
        tokens.append((s1, s2, w.stamp.to(device)))
    return tokens


@torch.no_grad()
def predictor_val_ce(model: Kronos, tokens: ValidationTokens) -> float:
    """Token cross-entropy on the validation windows' tokens (weighted by window count)."""
    model.eval()
    device = next(model.parameters()).device
    total, count = 0.0, 0
    for s1, s2, stamp in tokens:
        with autocast(device):
            loss = predictor_loss(model, s1, s2, stamp)
        total += float(loss) * len(s1)
        count += len(s1)
    return total / count


def _run_phase(name: str, model: torch.nn.Module, phase: PhaseParams, state: dict[str, Any],
               store: ResumableState, step_loss, evaluate, checkpoint_every: int,
               rng: np.random.Generator, clock) -> list[dict[str, float]]:
    """Generic resumable loop; `state` holds the other phase's results and is saved with it."""
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=phase.lr,
                            weight_decay=phase.weight_decay)
    start, rows, running = 0, [], []
    if state.get("phase") == name:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        start, rows, running = state["step"], state["rows"], state["running"]
        set_torch_rng_state(state["torch_rng"])
        rng.bit_generator.state = state["numpy_rng"]
    for step in tqdm(range(start, phase.steps), desc=f"kronos {name}", initial=start,
                     total=phase.steps, mininterval=5):
        model.train()
        loss = step_loss(rng)
        running.append(optimizer_step(opt, loss, lr_at(step, phase.lr, phase.warmup,
                                                       phase.steps), clip=1.0))
        done = step + 1
        if done % phase.eval_every == 0 or done == phase.steps:
            rows.append({"step": done, "train_loss": float(np.mean(running)), **evaluate()})
            running = []
        if done % checkpoint_every == 0 or done == phase.steps:
            state.update(phase=name, step=done, rows=rows, running=running,
                         model=model.state_dict(), optimizer=opt.state_dict(),
                         torch_rng=torch_rng_state(), numpy_rng=rng.bit_generator.state,
                         elapsed=clock())
            store.save(state)
    return rows


def import_official(checkpoint: dict | None, out_dir: Path) -> dict[str, float] | None:
    """Import the official folders named by models.kronos.checkpoint.{tokenizer,predictor}
    (strict keys, matching bits) into out_dir/{tokenizer,predictor}. Returns None when
    neither is set (pretrain instead)."""
    folders = checkpoint or {}
    tok_dir, pred_dir = folders.get("tokenizer"), folders.get("predictor")
    if tok_dir is None and pred_dir is None:
        return None
    if tok_dir is None or pred_dir is None:
        raise ValueError("models.kronos.checkpoint: set both tokenizer and predictor, or neither")
    tokenizer, predictor = import_checkpoint(tok_dir, pred_dir, out_dir)
    return {
        "imported": 1.0,
        "tokenizer_parameters": float(sum(p.numel() for p in tokenizer.parameters())),
        "predictor_parameters": float(sum(p.numel() for p in predictor.parameters())),
    }


@dataclass
class _Run:
    """What the two phases of one pretraining run share: the settings, the training windows,
    the resumable state, the NumPy generator of the batches and the run's clock."""

    params: PretrainParams
    sampler: WindowSampler
    device: torch.device
    store: ResumableState
    rng: np.random.Generator
    started: float  # perf_counter() at the run's start (earlier sittings included)

    def batch(self, r: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Windows x [batch, length, d_in] and stamps [batch, length, 5] of one random length,
        normalised on the lookback only, as a forecast's context is: the last candle (the
        predicted one) never enters its own window's statistics."""
        params = self.params
        length = int(r.integers(params.min_window, params.window + 1))
        x, stamp = self.sampler.sample(r, params.batch_size, length, lookback=length - 1)
        return x.to(self.device), stamp.to(self.device)

    def clock(self) -> float:
        return time.perf_counter() - self.started

    def phase(self, name: str, model: torch.nn.Module, phase: PhaseParams,
              state: dict[str, Any], step_loss, evaluate) -> list[dict[str, float]]:
        return _run_phase(name, model, phase, state, self.store, step_loss, evaluate,
                          self.params.checkpoint_every, self.rng, self.clock)


def _train_tokenizer(run: _Run, cfg: TokenizerConfig, state: dict[str, Any],
                     windows: list[ValidationWindows]
                     ) -> tuple[KronosTokenizer, list[dict[str, float]], dict[str, Any]]:
    """The tokenizer phase, or its result from a state saved after it: (the frozen tokenizer,
    its curve rows, the state the predictor phase starts from)."""
    tokenizer = KronosTokenizer(cfg).to(run.device)
    if state.get("phase") == "predictor":
        tokenizer.load_state_dict(state["tokenizer"])
        rows = state["tokenizer_rows"]
    else:
        params = run.params

        def step(r: np.random.Generator) -> torch.Tensor:
            with autocast(run.device):
                return tokenizer_loss(tokenizer, run.batch(r)[0], params.close_code_weight,
                                      params.clip)[0]

        rows = run.phase("tokenizer", tokenizer, params.tokenizer, state, step,
                         lambda: tokenizer_close_errors(tokenizer, windows))
        seconds = run.clock()
        state = {"tokenizer": tokenizer.state_dict(), "tokenizer_rows": rows,
                 "tokenizer_s": seconds, "elapsed": seconds}
    return tokenizer.eval().requires_grad_(False), rows, state


def _train_predictor(run: _Run, tokenizer: KronosTokenizer, cfg: PredictorConfig,
                     state: dict[str, Any], windows: list[ValidationWindows]
                     ) -> tuple[Kronos, list[dict[str, float]]]:
    """The predictor phase on the frozen tokenizer's tokens: (the predictor, its curve rows)."""
    predictor = Kronos(cfg).to(run.device)

    def step(r: np.random.Generator) -> torch.Tensor:
        x, stamp = run.batch(r)
        with autocast(run.device):
            s1, s2 = tokenizer.encode(x)
            return predictor_loss(predictor, s1, s2, stamp)

    tokens = validation_tokens(tokenizer, windows)
    rows = run.phase("predictor", predictor, run.params.predictor, state, step,
                     lambda: {"val_ce": predictor_val_ce(predictor, tokens)})
    return predictor, rows


def pretrain(corpus, architecture: dict, train_params: dict, out_dir: Path, plots_dir: Path,
             state_dir: Path, seed: int) -> dict[str, float]:
    """Train the tokenizer, then the predictor on its tokens, from corpus.train; report the
    tokenizer close round-trip error and the predictor CE on corpus.validation; save
    out_dir/tokenizer and out_dir/predictor (official layout) and the loss curves."""
    params = PretrainParams.from_dict(train_params)
    tok_cfg = TokenizerConfig.from_dict(architecture.get("tokenizer", {}))
    pred_cfg = PredictorConfig.from_dict(architecture.get("predictor", {}))
    if (tok_cfg.s1_bits, tok_cfg.s2_bits) != (pred_cfg.s1_bits, pred_cfg.s2_bits):
        raise ValueError("models.kronos: tokenizer and predictor s1_bits/s2_bits must match")
    seed_everything(seed)
    sampler = WindowSampler(corpus.train, params.window, params.clip, tok_cfg.price_reference)
    if params.interval_weights is not None:
        weight_intervals(sampler, sampler.intervals, params.interval_weights)
    reference = tok_cfg.price_reference
    val_tok = [validation_windows(f, corpus.val_start, params.eval_window, params.clip, reference)
               for f in corpus.validation]
    val_pred = [validation_windows(f, corpus.val_start, params.window, params.clip, reference)
                for f in corpus.validation]
    store = ResumableState(state_dir, {
        "params": asdict(params),
        "tokenizer": tok_cfg.to_dict(),
        "predictor": pred_cfg.to_dict(), "seed": seed, "val_start": str(corpus.val_start),
        "series": [(f.symbol, f.interval, len(f.candles)) for f in corpus.train]})
    state = store.load() or {}
    run = _Run(params, sampler, current_device(), store, np.random.default_rng(seed),
               time.perf_counter() - state.get("elapsed", 0.0))
    tokenizer, tok_rows, state = _train_tokenizer(run, tok_cfg, state, val_tok)
    predictor, pred_rows = _train_predictor(run, tokenizer, pred_cfg, state, val_pred)
    total_s = run.clock()
    save_checkpoint(tokenizer, out_dir / "tokenizer")
    save_checkpoint(predictor.eval(), out_dir / "predictor")
    write_curve(plots_dir / "tokenizer.csv", tok_rows)
    write_curve(plots_dir / "predictor.csv", pred_rows)
    store.clear()  # a finished run's state must not stand in for a later run
    return _summary(tok_rows[-1], pred_rows[-1], state["tokenizer_s"], total_s)


def _summary(tok: dict[str, float], pred: dict[str, float], tokenizer_s: float,
             total_s: float) -> dict[str, float]:
    """The metrics of a run from the last rows of its tokenizer and predictor curves."""
    return {
        "tokenizer_close_err_median_s1s2": tok["close_err_median_s1s2"],
        "tokenizer_close_err_mean_s1s2": tok["close_err_mean_s1s2"],
        "tokenizer_close_err_median_s1": tok["close_err_median_s1"],
        "tokenizer_recon_mse": tok["recon_mse"],
        "naive_abs_return_median": tok["naive_abs_return_median"],
        "naive_pct_return_mae": tok["naive_pct_return_mae"],
        # quantisation error against the naive return error, the same statistic on both sides
        "tokenizer_err_over_naive_median": tok["close_err_median_s1s2"]
        / tok["naive_abs_return_median"],
        "tokenizer_err_over_naive_mean": tok["close_err_mean_s1s2"] / tok["naive_pct_return_mae"],
        "predictor_val_ce": pred["val_ce"],
        "predictor_train_ce": pred["train_loss"],
        "tokenizer_seconds": tokenizer_s,
        "predictor_seconds": total_s - tokenizer_s,
        "total_seconds": total_s,
    }
