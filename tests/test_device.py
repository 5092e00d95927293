"""The device setting: resolution, the bf16 autocast choice, the DDP backend and a process's
share of a batch, and the process's malloc setting. CUDA is faked where a choice depends on
it: tests never need a GPU."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest
import torch
from tiny import section

from cryptocast import runtime
from cryptocast.models.kronos.sampling import draw_from_cdf
from cryptocast.runtime import RuntimeConfig, autocast, resolve_device
from cryptocast.training.finetune import World, backend, set_dropout


@pytest.fixture
def fake_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


def test_auto_is_cpu_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")


def test_auto_is_the_process_gpu_under_torchrun(fake_cuda, monkeypatch):
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert resolve_device("auto") == torch.device("cuda", 0)
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert resolve_device("auto") == torch.device("cuda", 1)
    assert resolve_device("cuda") == torch.device("cuda", 1)
    assert resolve_device("cuda:0") == torch.device("cuda", 0)
    with pytest.raises(ValueError, match="cuda:2 does not exist: 2 CUDA devices"):
        resolve_device("cuda:2")


def test_cuda_without_a_gpu_is_an_error_not_a_cpu_run(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="runtime.device is 'cuda' but .* no CUDA device"):
        resolve_device("cuda")


@pytest.mark.parametrize("values, message", [
    ({"device": "gpu"}, "runtime.device must be auto, cpu, cuda or cuda:N, got 'gpu'"),
    ({"bf16": "yes"}, "runtime.bf16 must be true or false"),
    ({"threads": 0}, "runtime.threads must be a positive int"),
    ({"devices": "cpu"}, r"params runtime: unknown keys \['devices'\]"),
])
def test_bad_runtime_params_name_the_key(values, message):
    with pytest.raises(ValueError, match=message):
        RuntimeConfig.from_params({"runtime": section("runtime", **values)})


def test_configure_records_the_device_and_cpu_never_autocasts(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    threads = torch.get_num_threads()
    try:
        info = runtime.configure(RuntimeConfig(threads=1, device="auto", bf16=True))
        assert info["device"] == "cpu" and info["bf16_autocast"] is False
        assert info["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
        assert info["cpu"] == runtime.cpu_model() != "unknown CPU"  # Linux: /proc/cpuinfo
        assert runtime.current_device() == torch.device("cpu")
        assert not isinstance(autocast(torch.device("cpu")), torch.autocast)
    finally:
        torch.set_num_threads(threads)


def test_cpu_model_reads_the_first_model_name(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\n"
                       "model name\t: AMD EPYC 7B13\nflags\t\t: avx2\n\n"
                       "processor\t: 1\nmodel name\t: AMD EPYC 9B14\n")  # not read
    assert runtime.cpu_model(cpuinfo) == "AMD EPYC 7B13"
    cpuinfo.write_text("processor\t: 0\nmodel name\t:\n")  # e.g. some ARM kernels
    assert runtime.cpu_model(cpuinfo) == "unknown CPU"
    assert runtime.cpu_model(tmp_path / "absent") == "unknown CPU"


@pytest.mark.filterwarnings("ignore:CUDA is not available")
def test_bf16_autocast_on_cuda_only_when_asked(monkeypatch):
    monkeypatch.setitem(runtime._current, "bf16", True)
    ctx = autocast(torch.device("cuda", 0))
    assert isinstance(ctx, torch.autocast)
    assert ctx.fast_dtype == torch.bfloat16 and ctx.device == "cuda"
    monkeypatch.setitem(runtime._current, "bf16", False)
    assert not isinstance(autocast(torch.device("cuda", 0)), torch.autocast)


def test_backend_is_nccl_between_gpus_and_gloo_on_cpu():
    assert backend(torch.device("cuda", 0)) == "nccl"
    assert backend(torch.device("cpu")) == "gloo"


def test_each_process_takes_its_rows_of_the_global_batch():
    batch = torch.arange(8)
    shares = [batch[World(rank, 4).rows(8, "finetune.toto")] for rank in range(4)]
    assert torch.equal(torch.cat(shares), batch)
    assert [len(s) for s in shares] == [2, 2, 2, 2]
    with pytest.raises(ValueError, match="finetune.toto.batch_size 6 must be a multiple of the "
                                         "4 processes"):
        World(0, 4).rows(6, "finetune.toto")
    model = torch.nn.Linear(2, 2)
    assert World().wrap(model) is model  # one process: no DDP wrapper


def test_kronos_draws_follow_the_cdf_to_its_device():
    """The uniforms come from the CPU generator, then move to the CDF's device (here the
    meta device stands in for a GPU): no device mismatch, and the same seed draws alike."""
    cdf = torch.tensor([[0.1, 0.5, 1.0]], dtype=torch.float64)
    on_meta = draw_from_cdf(cdf.to("meta"), 4, torch.Generator().manual_seed(0))
    assert on_meta.device.type == "meta" and on_meta.shape == (1, 4)


def test_set_dropout_reaches_layers_and_attention_rates():
    from tiny import PREDICTOR

    from cryptocast.models.kronos import Kronos, PredictorConfig

    model = Kronos(PredictorConfig(**{**PREDICTOR, "attn_dropout_p": 0.1}))
    set_dropout(model, None)
    assert any(m.p > 0 for m in model.modules() if isinstance(m, torch.nn.Dropout))
    set_dropout(model, 0.0)
    assert all(m.p == 0 for m in model.modules() if isinstance(m, torch.nn.Dropout))
    assert all(m.attn_dropout_p == 0 for m in model.modules() if hasattr(m, "attn_dropout_p"))


# Eight touched 2 MiB blocks allocated and freed ten times over; prints the page faults.
ALLOCATE_AND_FREE = """
import resource, sys
import numpy as np
from cryptocast.runtime import reuse_freed_memory
if sys.argv[1] == "reuse":
    assert reuse_freed_memory() == "reuse"
for round in range(12):
    if round == 2:
        start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    blocks = [np.ones(2**18) for _ in range(8)]
    del blocks
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="a glibc malloc setting")
def test_freed_blocks_are_reused_without_page_faults():
    # glibc's default hands the freed heap top back to the OS, so every round faults its
    # 4,096 pages in again; with the setting `configure` applies the rounds reuse them
    faults = {mode: int(subprocess.run([sys.executable, "-c", ALLOCATE_AND_FREE, mode],
                                       capture_output=True, text=True, check=True).stdout)
              for mode in ("default", "reuse")}
    assert faults["default"] > 10 * 4096 * 0.9
    assert faults["reuse"] < 100
