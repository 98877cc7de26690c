"""How familiar a film is to the classifier: the energy score of its answer's logits.

The energy score (Liu et al., NeurIPS 2020) is ``T * logsumexp(logits / T)`` of the
answer's logits at the answer's own temperature: the evidence the network finds for
any of its classes, with no network pass of its own. It was chosen over the Mahalanobis distance to
class-conditional Gaussians of the pooled features (Lee et al. 2018), the distance to
the k-th nearest training feature (Sun et al. 2022) and ViM on the validation split and
cxr-ext (``docs/experiments.md``): none separated other hospitals' films better, and it
needs no statistics beyond a threshold. A higher score means closer to the training
films; the threshold leaves about 5 % of the validation split below it.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

VALIDATION_SHARE = 0.05
"""Share of the validation split's films that fall below the threshold."""


def energy(logits: np.ndarray, temperature: float) -> np.ndarray:
    """(N,) familiarity scores of (N, K) logits: ``T * logsumexp(logits / T)``."""
    return temperature * logsumexp(np.asarray(logits, np.float64) / temperature, axis=-1)


def fit_threshold(scores: np.ndarray, share: float = VALIDATION_SHARE) -> float:
    """The score below which ``share`` of ``scores`` (the validation split's) fall."""
    return float(np.quantile(scores, share))
