"""The similarity measures: CKA, RSA and DisWOT on features whose relation is known."""

from __future__ import annotations

import pytest
import torch

from kdnas.distill.similarity import class_relation, dissimilarity_matrix, diswot, linear_cka, rsa


def _features(n: int = 64, d: int = 24, seed: int = 0) -> torch.Tensor:
    # low-rank structure plus noise, shaped as a feature map (N, C, H, W), as stages give them
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, 4, generator=g)
    return (z @ torch.randn(4, d, generator=g) + 0.3 * torch.randn(n, d, generator=g)).reshape(n, d // 4, 2, 2)


def _orthogonal(d: int, seed: int) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    return q.float()


@pytest.mark.parametrize("measure", [linear_cka, rsa])
def test_identical_features_are_fully_similar_and_shuffled_or_random_ones_less(measure) -> None:
    f = _features()
    shuffled = f[torch.randperm(len(f), generator=torch.Generator().manual_seed(1))]
    other = _features(seed=7)
    assert measure(f, f) == pytest.approx(1.0, abs=1e-9)
    assert measure(f, shuffled) < 0.5
    assert measure(f, other) < 0.5


def test_cka_is_invariant_to_an_orthogonal_transform_and_an_isotropic_scale() -> None:
    f = _features().reshape(64, -1)
    rotated = f @ _orthogonal(f.shape[1], 3) * 5.0
    assert linear_cka(rotated, f) == pytest.approx(1.0, abs=1e-6)


def test_cka_changes_under_a_transform_that_is_not_orthogonal() -> None:
    f = _features().reshape(64, -1)
    # stretch a few directions a hundredfold: the representation's geometry changes
    stretch = torch.diag(torch.tensor([100.0] * 3 + [1.0] * (f.shape[1] - 3)))
    assert linear_cka(f @ stretch, f) < 0.9


def test_cka_compares_features_of_different_widths_and_gives_a_dead_stage_zero() -> None:
    f = _features()
    wider = torch.cat([f, f], dim=1)  # the same samples' geometry in twice the channels
    assert linear_cka(wider, f) == pytest.approx(1.0, abs=1e-6)
    assert linear_cka(torch.zeros_like(f), f) == 0.0


def test_rsa_dissimilarity_matrix_is_zero_on_the_diagonal_and_symmetric() -> None:
    d = dissimilarity_matrix(_features())
    assert torch.allclose(d.diagonal(), torch.zeros(len(d), dtype=d.dtype), atol=1e-9)
    assert torch.allclose(d, d.T)


def test_rsa_ignores_per_sample_affine_maps_and_refuses_an_unknown_correlation() -> None:
    f = _features().reshape(64, -1)
    # a positive scale and an offset per sample keep every correlation between samples: equal RDMs
    scaled = f * torch.linspace(0.5, 3.0, 64).unsqueeze(1) + torch.linspace(-2, 2, 64).unsqueeze(1)
    assert rsa(scaled, f, "pearson") == pytest.approx(1.0, abs=1e-9)
    assert rsa(scaled, f, "spearman") == pytest.approx(1.0, abs=1e-9)
    # ... which CKA, comparing the features themselves, does not ignore
    assert linear_cka(scaled, f) < 0.99
    with pytest.raises(ValueError, match="unknown correlation"):
        rsa(f, f, "kendall")


def test_diswot_is_zero_for_the_teacher_itself_and_negative_for_another_network() -> None:
    f, logits = _features(), torch.randn(64, 10, generator=torch.Generator().manual_seed(2))
    assert diswot(f, f, logits, logits) == pytest.approx(0.0, abs=1e-9)
    other, other_logits = _features(seed=5), torch.randn(64, 10, generator=torch.Generator().manual_seed(6))
    assert diswot(other, f, other_logits, logits) < -0.1
    # closer relations score higher: the teacher's features with a little noise beat unrelated ones
    near = f + 0.05 * torch.randn(f.shape, generator=torch.Generator().manual_seed(8))
    assert diswot(near, f, logits, logits) > diswot(other, f, logits, logits)


def test_class_relation_is_class_by_class_and_invariant_to_the_logits_scale() -> None:
    logits = torch.randn(32, 5, generator=torch.Generator().manual_seed(0))
    c = class_relation(logits)
    assert c.shape == (5, 5)
    assert torch.allclose(class_relation(3.0 * logits), c)


def test_gradcam_class_relation_matches_the_closed_form_of_a_pooled_linear_head() -> None:
    from torch import nn

    from kdnas.distill.probe import gradcam_relation
    from kdnas.distill.similarity import gradcam_class_relation

    torch.manual_seed(0)
    head = nn.Linear(6, 5)
    feat = _features(n=16, d=24).reshape(16, 6, 2, 2).requires_grad_()
    logits = head(feat.mean(dim=(2, 3)))
    # after global average pooling and a linear layer, class k's Grad-CAM weights are W[k] / (H W)
    alpha = head.weight.detach() / 4
    maps = torch.relu(torch.einsum("kc,nchw->knhw", alpha, feat.detach())).reshape(5, -1).double()
    want = torch.nn.functional.normalize(maps @ maps.T, dim=1)
    got = gradcam_class_relation(feat, logits)
    assert got.shape == (5, 5) and torch.allclose(got, want, atol=1e-6)

    # through a frozen network (a teacher): the stage's output is cut from below, the model left as it was
    net = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                        nn.Flatten(), nn.Linear(6, 5)).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x = torch.randn(8, 1, 4, 4)
    rel = gradcam_relation(net, x, "2", train_mode=True)
    assert rel.shape == (5, 5) and bool(torch.isfinite(rel).all())
    assert not net.training and all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    other = gradcam_relation(net, x, "2", train_mode=False)  # the running statistics give another relation
    assert not torch.allclose(rel, other)
