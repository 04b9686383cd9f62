"""Representational similarity between a student's features and the teacher's: plain functions of
tensors whose first dimension is the sample.

Every measure is "higher is more similar" and flattens a sample's feature map to one vector, so a
student stage and the teacher stage aligned with it (same resolution, any channel counts) compare
directly. Computed in float64: the teacher's cached features are float16, and the Gram matrices of
a few hundred samples cost nothing next to the forward that produced them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _flat(f: torch.Tensor) -> torch.Tensor:
    return f.detach().reshape(len(f), -1).double()


def _centred_gram(f: torch.Tensor) -> torch.Tensor:
    x = _flat(f)
    x = x - x.mean(dim=0, keepdim=True)
    return x @ x.T


def linear_cka(a: torch.Tensor, b: torch.Tensor) -> float:
    """Linear centred kernel alignment (Kornblith et al. 2019) of two representations of the same
    samples: 1 for representations equal up to an orthogonal transform and an isotropic scale, 0
    for independent ones. Computed through the samples' Gram matrices (n x n), so feature maps of
    any size cost the same."""
    k, l = _centred_gram(a), _centred_gram(b)
    denom = torch.linalg.matrix_norm(k) * torch.linalg.matrix_norm(l)
    # a representation that does not vary over the samples (a dead stage) carries no similarity
    return float((k * l).sum() / denom) if denom > 0 else 0.0


def dissimilarity_matrix(f: torch.Tensor) -> torch.Tensor:
    """The representational dissimilarity matrix (n x n): 1 - the Pearson correlation of two
    samples' feature vectors; a sample whose features are constant correlates with none (0)."""
    return 1.0 - torch.nan_to_num(torch.corrcoef(_flat(f)), nan=0.0)


def _ranks(v: torch.Tensor) -> torch.Tensor:
    return torch.argsort(torch.argsort(v)).double()


def _pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    r = torch.corrcoef(torch.stack([a, b]))[0, 1]
    return 0.0 if torch.isnan(r) else float(r)


def rsa(a: torch.Tensor, b: torch.Tensor, correlation: str = "spearman") -> float:
    """Representational similarity analysis (as Bashivan et al. 2019 score a candidate): the
    correlation (``spearman`` or ``pearson``) between the off-diagonal entries of the two
    representations' dissimilarity matrices; 1 when the samples are arranged alike."""
    rows, cols = torch.triu_indices(len(a), len(a), offset=1)
    da, db = dissimilarity_matrix(a)[rows, cols], dissimilarity_matrix(b)[rows, cols]
    if correlation == "spearman":
        da, db = _ranks(da), _ranks(db)
    elif correlation != "pearson":
        raise ValueError(f"unknown correlation {correlation!r}")
    return _pearson(da, db)


def sample_relation(f: torch.Tensor) -> torch.Tensor:
    """The samples' Gram matrix with L2-normalised rows (similarity-preserving KD, Tung and Mori
    2019; DisWOT's sample relation): invariant to the feature dimension, so any two stages compare."""
    x = _flat(f)
    return F.normalize(x @ x.T, dim=1)


def class_relation(logits: torch.Tensor) -> torch.Tensor:
    """The classes' Gram matrix (K x K) over the samples, rows L2-normalised: how alike the network
    treats two classes. DisWOT derives it from Grad-CAM maps of the last layer; the logits give the
    same class-by-class shape without a backward pass."""
    z = logits.detach().double()
    return F.normalize(z.T @ z, dim=1)


def diswot(s_last: torch.Tensor, t_last: torch.Tensor, s_logits: torch.Tensor, t_logits: torch.Tensor) -> float:
    """DisWOT's score (Dong et al. 2023): minus the distance between student and teacher sample
    relations of the last stage plus that between their class relations; 0 when they are identical,
    lower the more they differ."""
    d_sample = torch.linalg.matrix_norm(sample_relation(s_last) - sample_relation(t_last))
    d_class = torch.linalg.matrix_norm(class_relation(s_logits) - class_relation(t_logits))
    return -float(d_sample + d_class)


def gradcam_class_relation(feature: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """DisWOT's class relation as the paper takes it (K x K, rows L2-normalised): the Gram matrix of
    the classes' Grad-CAM maps (Selvaraju et al. 2017) of a stage over the samples. Class k's map is
    ReLU(sum over channels of alpha_k,c * feature_c), alpha_k,c the gradient of logit k with respect to
    channel c, averaged over samples and positions. `feature` (N x C x H x W) must be a leaf that
    requires grad and that `logits` were computed from."""
    alpha = torch.stack([torch.autograd.grad(logits[:, k].sum(), feature, retain_graph=True)[0].mean(dim=(0, 2, 3))
                         for k in range(logits.shape[1])])
    maps = F.relu(torch.einsum("kc,nchw->knhw", alpha, feature.detach())).reshape(len(alpha), -1).double()
    return F.normalize(maps @ maps.T, dim=1)


def diswot_gradcam(s_last: torch.Tensor, t_last: torch.Tensor, s_class: torch.Tensor, t_class: torch.Tensor) -> float:
    """`diswot` with the class relations given (`gradcam_class_relation`'s) instead of the logits'."""
    d_sample = torch.linalg.matrix_norm(sample_relation(s_last) - sample_relation(t_last))
    return -float(d_sample + torch.linalg.matrix_norm(s_class - t_class))
