"""Export: TorchScript and ONNX files whose outputs match PyTorch's; the model card."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from kdnas.arch import Arch
from kdnas.export import export_model, git_revision, onnx_bytes, write_model_card
from kdnas.space import build_student
from kdnas.teachers import create_model


def _check(model: torch.nn.Module, shape: tuple[int, int, int], folder: Path) -> None:
    out = export_model(model, shape, folder)
    x = torch.randn(5, *shape, generator=torch.Generator().manual_seed(9))
    model.eval()
    with torch.no_grad():
        ref = model(x).numpy()
    got = ort.InferenceSession(str(out.onnx), providers=["CPUExecutionProvider"]).run(None, {"input": x.numpy()})[0]
    assert np.abs(got - ref).max() <= 1e-4 and out.max_abs_diff <= 1e-4
    assert torch.allclose(torch.jit.load(str(out.torchscript))(x), torch.from_numpy(ref), atol=1e-5)
    assert out.onnx.read_bytes() == onnx_bytes(model, shape)  # the file the onnxruntime latency backend times


def test_student_and_zoo_model_export_with_parity(tmp_path: Path):
    torch.manual_seed(0)
    student = build_student(Arch.from_str("stem_c8-ir_s1_k3_e2_c8_d1-basic_s2_k3_e1_c16_d2-head_c32"), 3, 10)
    with torch.no_grad():  # non-trivial BN statistics, so eval-mode folding is exercised
        for m in student.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
    _check(student, (3, 16, 16), tmp_path / "student")
    _check(create_model("resnet8x4", num_classes=10, in_channels=1, input_size=(8, 8)), (1, 8, 8), tmp_path / "zoo")


def test_model_card_files(tmp_path: Path):
    js, md = write_model_card(tmp_path, {"name": "x", "arch": "stem_c4-head_c0", "macs": 123456, "recipe": {"epochs": 2}})
    assert json.loads(js.read_text())["macs"] == 123456
    text = md.read_text()
    assert "# Model card: x" in text and "123,456" in text and '"epochs": 2' in text
    assert git_revision(tmp_path) == "unknown"
