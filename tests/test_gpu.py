"""CUDA: mixed-precision training steps, what each cell computes in there, and a
GPU-trained checkpoint used on the CPU. Tests marked `gpu` skip without CUDA (a
conftest hook); the last ones run everywhere: --device cuda without CUDA is one
line, for training as for inference."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from conftest import assert_error
from typer.testing import CliRunner

from seqcli.cli import app
from seqcli.config import LMConfig, RecurrentConfig
from seqcli.nn.recurrent import RecurrentEncoder
from seqcli.precision import choose_precision

CELLS = ("lstm", "gru", "rnn")
AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}


def _step(cell: str, dtype: torch.dtype) -> tuple[torch.Tensor, RecurrentEncoder]:
    """One training step's forward and backward of a tiny encoder and head on the
    GPU under autocast; returns the encoder's outputs."""
    torch.manual_seed(0)
    cfg = RecurrentConfig(cell=cell, emb_size=8, hidden_size=16)
    encoder = RecurrentEncoder(30, cfg).cuda()
    head = torch.nn.Linear(16, 30).cuda()
    ids = torch.randint(1, 30, (4, 7), device="cuda")  # (batch, time)
    lengths = torch.tensor([7, 5, 3, 2])  # packed: what a padded batch takes
    with torch.autocast("cuda", dtype=dtype):
        outputs, _ = encoder(ids, lengths)  # (batch, time, hidden)
        logits = head(outputs)  # (batch, time, vocab)
    loss = F.cross_entropy(logits.float().flatten(0, 1), ids.flatten())
    loss.backward()
    return outputs, encoder


@pytest.mark.gpu
@pytest.mark.parametrize("precision", sorted(AUTOCAST))
@pytest.mark.parametrize("cell", CELLS)
def test_an_autocast_training_step_on_cuda_keeps_fp32_gradients(
    cell: str, precision: str
) -> None:
    _, encoder = _step(cell, AUTOCAST[precision])
    for p in encoder.parameters():
        assert p.grad is not None and p.grad.dtype == torch.float32
        assert torch.isfinite(p.grad).all()
    assert any(p.grad.abs().sum() > 0 for p in encoder.rnn.parameters())


@pytest.mark.gpu
@pytest.mark.parametrize("precision", sorted(AUTOCAST))
@pytest.mark.parametrize("cell", CELLS)
def test_cudnn_recurrent_layers_compute_in_fp16_under_any_autocast(
    cell: str, precision: str
) -> None:
    """PyTorch's autocast wrapper of cuDNN's RNN (aten/src/ATen/cudnn/
    AutocastRNN.cpp) casts input, state and weights to float16 whatever the
    autocast dtype: under --precision bf16 a GPU's recurrent layers run in fp16
    (docs/PRECISION.md). If a PyTorch release changes that, this test says so."""
    outputs, _ = _step(cell, AUTOCAST[precision])
    assert outputs.dtype == torch.float16


@pytest.mark.gpu
def test_auto_precision_probes_the_gpu() -> None:
    device = torch.device("cuda")
    choice = choose_precision("auto", device, ["lstm", "gru"])
    expected = "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    assert choice.precision == expected
    assert torch.cuda.get_device_name(device) in choice.why


@pytest.mark.gpu
@pytest.mark.slow
def test_a_checkpoint_trained_on_the_gpu_gives_the_same_outputs_on_the_cpu(
    lm_config: Callable[..., LMConfig],
) -> None:
    from seqcli.batching import Batch
    from seqcli.tasks.lm import train_lm
    from seqcli.tasks.lm_inference import load_lm

    cfg = lm_config(device="cuda", precision="bf16", epochs=2)
    path = train_lm(cfg).path
    ids = torch.randint(1, 10, (3, 6))
    batch = Batch(ids=ids, targets=ids, lengths=torch.tensor([6, 4, 2]))
    scores = {}
    for device in ("cuda", "cpu"):
        lm = load_lm(path, device=device)
        assert next(lm.network.parameters()).dtype == torch.float32
        with torch.no_grad():
            scores[device] = lm.network.sequence_log_probs(batch.to(device)).cpu()
    # The same fp32 weights, two devices' kernels: close, not bit-identical.
    assert torch.allclose(scores["cuda"], scores["cpu"], atol=1e-4, rtol=1e-4)


# --- everywhere: --device cuda without CUDA --------------------------------------
@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("dry_run", [True, False])
def test_training_on_cuda_without_cuda_is_one_line(
    corpus_file: Path, tmp_path: Path, dry_run: bool
) -> None:
    args = ["train-lm", str(corpus_file), "--device", "cuda", "--epochs", "1"]
    args += ["-o", str(tmp_path / "m.pt"), *(["--dry-run"] * dry_run)]
    result = CliRunner().invoke(app, args)
    assert_error(result, "--device cuda: CUDA is not available")
    assert not (tmp_path / "m.pt").exists()
