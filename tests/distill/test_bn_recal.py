"""BatchNorm recalibration: exact statistics over the drawn images, weights untouched, wired into the proxy."""

from __future__ import annotations

import torch
from torch import nn

from kdnas.arch import Arch
from kdnas.distill import ProxySpec, TeacherOutputs, accuracy, run_proxy
from kdnas.distill.bn_recal import recalibrate_bn
from kdnas.space import build_student


def test_statistics_are_the_exact_average_over_the_drawn_images():
    torch.manual_seed(0)
    x = torch.randn(200, 3, 4, 4) * torch.tensor([1.0, 3.0, 0.5]).view(1, 3, 1, 1) + torch.tensor([2.0, -1.0, 0.0]).view(1, 3, 1, 1)
    model = nn.Sequential(nn.BatchNorm2d(3), nn.Conv2d(3, 2, 1), nn.BatchNorm2d(2))
    bn = model[0]
    bn.running_mean.fill_(100.0)  # stale statistics
    bn.running_var.fill_(1e-3)
    conv_w = model[1].weight.clone()
    # batches of 50 over all 200 images: the cumulative average of per-batch means is the overall mean
    assert recalibrate_bn(model, x, samples=200, batch_size=50, seed=1) == 2
    assert torch.allclose(bn.running_mean, x.mean((0, 2, 3)), atol=1e-5)
    # the average of per-batch variances: near the variance over all images, far from the stale 1e-3
    assert torch.allclose(bn.running_var, x.var((0, 2, 3)), rtol=0.1)
    assert torch.equal(model[1].weight, conv_w)
    assert bn.momentum == 0.1 and not model.training


def test_no_batchnorm_or_no_samples_leaves_the_model_as_it_was():
    model = nn.Sequential(nn.Conv2d(1, 2, 1))
    assert recalibrate_bn(model, torch.randn(8, 1, 2, 2), samples=8, batch_size=4, seed=0) == 0
    bn_model = nn.Sequential(nn.BatchNorm2d(1))
    bn_model[0].running_mean.fill_(5.0)
    assert recalibrate_bn(bn_model, torch.randn(8, 1, 2, 2), samples=0, batch_size=4, seed=0) == 0
    assert float(bn_model[0].running_mean) == 5.0


def test_the_proxy_scores_the_recalibrated_student(data):
    """With `bn_recalibration` the score is the accuracy of the same trained weights after a
    recalibration; without it, of the run's own running statistics."""
    x_train, y_train, x_val, y_val = data
    logits = torch.stack([-(2.0 * y_train - 1.0), 2.0 * y_train - 1.0], 1) * 4.0
    teacher = TeacherOutputs(logits.float(), {}, key="fake")
    arch = Arch.from_str("stem_c4-ir_s1_k3_e1_c4_d1-dws_s2_k3_e1_c8_d1-head_c0")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # bit-identical runs to compare; restored for the tests after this one
    try:
        _check_recalibrated_score(data, teacher, arch)
    finally:
        torch.set_num_threads(threads)


def _check_recalibrated_score(data, teacher, arch) -> None:
    x_train, y_train, x_val, y_val = data

    def trained(recal: int):
        torch.manual_seed(0)
        student = build_student(arch, 1, 2)
        spec = ProxySpec(method="kd", steps=6, batch_size=16, optimizer="sgd", lr=0.5, advanced={"bn_recalibration": recal})
        return student, run_proxy(student, x_train, y_train, x_val, y_val, teacher, spec, seed=0)

    plain_model, plain = trained(0)
    recal_model, recal = trained(64)
    assert plain.val_acc == accuracy(plain_model, x_val, y_val)
    recalibrate_bn(plain_model, x_train, 64, 256, seed=0)
    for a, b in zip(plain_model.state_dict().values(), recal_model.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-6)
    assert recal.val_acc == accuracy(plain_model, x_val, y_val)
