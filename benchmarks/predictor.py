"""A DONNA-style accuracy predictor over block-wise losses, scored by leave-one-out.

DONNA (Moons et al. 2021) does not rank students by the plain sum of their blocks' losses: it fits
a small linear model from the per-block quality metrics to end-to-end accuracy on a few dozen
trained architectures, then predicts the rest of the space. The fidelity benchmark has exactly such
a set (its ground-truth panel), so each member's prediction comes from a model fitted on the other
members only; the predictor never sees the accuracy it is judged on.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import LeaveOneOut, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def features(components: np.ndarray, macs: np.ndarray) -> np.ndarray:
    """One row per architecture: its per-component block losses and log-MACs (capacity matters for
    end-to-end accuracy beyond how well each block imitates its teacher stage)."""
    return np.column_stack([np.asarray(components, dtype=float), np.log(np.asarray(macs, dtype=float))])


def loo_predictions(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Leave-one-out predictions of `y` from `x` by standardised ridge regression, its penalty chosen
    by an inner cross-validation on the training fold each time."""
    model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-2, 3, 16)))
    return cross_val_predict(model, x, y, cv=LeaveOneOut())
