"""Per-sample losses and the maps from network outputs to predictions and scores.

Each loss is a ``torch.nn.Module`` returning one loss per sample (no reduction): the
engine weights and averages them, and importance weights need them unreduced. The
targets are encoded by the estimator: class indices (``int64``) for binary and
multiclass problems, a float indicator matrix for multilabel ones, float values of shape
(n_samples, n_outputs) for regression. ``task`` names the kind of target; the
leave-one-out records read it (margins exist for single-label classification only).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

LOSSES = ("log_loss", "hinge", "squared_hinge", "modified_huber", "crammer_singer_hinge")
PROBA_LOSSES = ("log_loss", "modified_huber")
REGRESSION_LOSSES = ("squared_error", "huber", "epsilon_insensitive")


def _margin_loss(z: torch.Tensor, loss: str) -> torch.Tensor:
    """Binary loss of the signed margin ``z = s * f`` with ``s`` in {-1, +1}."""
    if loss == "log_loss":
        return F.softplus(-z)
    if loss in ("hinge", "crammer_singer_hinge"):  # one margin: both are the hinge
        return F.relu(1.0 - z)
    if loss == "squared_hinge":
        return F.relu(1.0 - z).square()
    # modified_huber: quadratically smoothed hinge, linear below z = -1 (Zhang 2004).
    return torch.where(z >= -1.0, F.relu(1.0 - z).square(), -4.0 * z)


def _margin_proba(f: torch.Tensor, loss: str) -> torch.Tensor:
    """Probability of the positive side of each output column."""
    if loss == "log_loss":
        # The sigmoid rounds to exactly 1 from f ~ 37 in float64 (17 in float32) and to
        # 0 far below: keep the probabilities in the open interval (0, 1) they lie in.
        info = torch.finfo(f.dtype)
        return torch.sigmoid(f).clamp(info.tiny, 1.0 - info.eps / 2)
    return (f.clamp(-1.0, 1.0) + 1.0) / 2.0


class ClassificationLoss(nn.Module):
    """Per-sample loss for binary, multiclass or multilabel targets.

    Parameters
    ----------
    loss : {'log_loss', 'hinge', 'squared_hinge', 'modified_huber', \
'crammer_singer_hinge'}
        The loss. Binary problems use one output ``f`` and the margin ``z = s f``
        (``s = +1`` for the second class); 'crammer_singer_hinge' is 'hinge' there.
        Multiclass problems use one output per class: 'log_loss' is softmax
        cross-entropy, 'hinge' the multiclass form ``sum_{j != y} max(0, f_j - f_y + 1)``
        (Weston and Watkins), 'squared_hinge' the sum of the squared terms,
        'modified_huber' one-vs-rest, 'crammer_singer_hinge' the largest term alone,
        ``max(0, max_{j != y} (f_j - f_y + 1))`` (Crammer and Singer, 2001). Multilabel
        problems sum the binary loss over the labels.
    task : {'binary', 'multiclass', 'multilabel'}
        The kind of target.

    Attributes
    ----------
    counts_errors : bool
        True: :meth:`correct` tells the misclassified samples (the leave-one-out bound
        counts them).
    regression : bool
        False: the margins are those of classes, not residuals.
    """

    counts_errors = True
    regression = False

    def __init__(self, loss: str = "log_loss", task: str = "multiclass"):
        super().__init__()
        self.loss = loss
        self.task = task

    @property
    def has_margins(self) -> bool:
        """Whether each sample has one margin (the leave-one-out estimate's): not for
        multilabel targets, which have one per label."""
        return self.task != "multilabel"

    @staticmethod
    def n_outputs(task: str, n_classes: int) -> int:
        """Number of network outputs for ``n_classes`` classes (or labels)."""
        return 1 if task == "binary" else n_classes

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Return the (n_samples,) losses of ``output`` against encoded ``target``."""
        if self.task == "binary":
            if self.loss == "log_loss":  # one fused kernel for the most common case
                return F.binary_cross_entropy_with_logits(
                    output[:, 0], target.to(output.dtype), reduction="none"
                )
            sign = 2.0 * target.to(output.dtype) - 1.0
            return _margin_loss(sign * output[:, 0], self.loss)
        if self.task == "multilabel":
            sign = 2.0 * target.to(output.dtype) - 1.0
            return _margin_loss(sign * output, self.loss).sum(dim=1)
        if self.loss == "log_loss":
            return F.cross_entropy(output, target, reduction="none")
        if self.loss == "modified_huber":
            sign = 2.0 * F.one_hot(target, output.shape[1]).to(output.dtype) - 1.0
            return _margin_loss(sign * output, self.loss).sum(dim=1)
        true_score = output.gather(1, target[:, None])
        if self.loss == "crammer_singer_hinge":
            # The j = y entry is exactly 1; a 0 there is the floor of max(0, .) instead.
            terms = (output - true_score + 1.0).scatter(1, target[:, None], 0.0)
            return terms.amax(dim=1)
        terms = F.relu(output - true_score + 1.0)
        if self.loss == "squared_hinge":
            terms = terms.square()
        # The j = y term equals 1 (squared: 1) exactly; removing it keeps the sum over j != y.
        return terms.sum(dim=1) - 1.0

    def predict(self, output: torch.Tensor) -> torch.Tensor:
        """Encoded predictions: class indices, or a 0/1 matrix for multilabel."""
        if self.task == "binary":
            return (output[:, 0] > 0).long()
        if self.task == "multilabel":
            return (output > 0).long()
        return output.argmax(dim=1)

    def correct(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Whether each sample is predicted right (all labels right for multilabel)."""
        hit = self.predict(output) == target.long()
        return hit.all(dim=1) if hit.ndim > 1 else hit

    def score(self, output: torch.Tensor, target: torch.Tensor) -> float:
        """Accuracy (exact match for multilabel), the validation score."""
        return float(self.correct(output, target).double().mean())

    def decision(self, output: torch.Tensor) -> torch.Tensor:
        """Decision values: (n,) for binary problems, (n, n_outputs) otherwise."""
        return output[:, 0] if self.task == "binary" else output

    def proba(self, output: torch.Tensor) -> torch.Tensor:
        """Class probabilities (label probabilities for multilabel)."""
        if self.task == "binary":
            positive = _margin_proba(output[:, 0], self.loss)
            return torch.stack([1.0 - positive, positive], dim=1)
        if self.task == "multilabel":
            return _margin_proba(output, self.loss)
        if self.loss == "log_loss":
            return torch.softmax(output, dim=1)
        # One-vs-rest probabilities normalised per row, uniform where all are zero (as
        # scikit-learn's SGDClassifier does for modified_huber).
        prob = _margin_proba(output, self.loss)
        total = prob.sum(dim=1, keepdim=True)
        uniform = torch.full_like(prob, 1.0 / prob.shape[1])
        return torch.where(total > 0, prob / total.clamp_min(torch.finfo(prob.dtype).tiny), uniform)


class RegressionLoss(nn.Module):
    """Per-sample regression loss, averaged over the outputs.

    Parameters
    ----------
    loss : {'squared_error', 'huber', 'epsilon_insensitive'}
        Of the residual ``r = y - f``: 'squared_error' ``r**2 / 2`` (the loss of
        scikit-learn's ``MLPRegressor``, so ``loss_curve_`` is on its scale), 'huber'
        ``r**2 / 2`` for ``|r| <= epsilon``, ``epsilon * (|r| - epsilon / 2)`` beyond,
        'epsilon_insensitive' ``max(0, |r| - epsilon)`` (as scikit-learn's
        ``SGDRegressor``).
    epsilon : float, default=0.1
        The threshold of 'huber' and 'epsilon_insensitive'.

    Attributes
    ----------
    counts_errors : bool
        False: a regression has no misclassified samples to count.
    has_margins : bool
        True: a sample's margin is minus its residual norm (the leave-one-out estimate's).
    regression : bool
        True.
    """

    task = "regression"
    counts_errors = False
    has_margins = True
    regression = True

    def __init__(self, loss: str = "squared_error", epsilon: float = 0.1):
        super().__init__()
        self.loss = loss
        self.epsilon = epsilon

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Return the (n_samples,) losses of ``output`` against ``target`` (n, n_outputs)."""
        residual = target - output
        if self.loss == "squared_error":
            terms = 0.5 * residual.square()
        elif self.loss == "huber":
            terms = F.huber_loss(output, target, reduction="none", delta=self.epsilon)
        else:
            terms = F.relu(residual.abs() - self.epsilon)
        return terms.mean(dim=1)

    def predict(self, output: torch.Tensor) -> torch.Tensor:
        """Predicted values: the outputs."""
        return output

    def score(self, output: torch.Tensor, target: torch.Tensor) -> float:
        """Coefficient of determination R^2, averaged uniformly over the outputs (as
        scikit-learn's ``r2_score``; an output of constant target scores 1 if predicted
        exactly, else 0), the validation score."""
        residual = (target - output).square().sum(dim=0)
        total = (target - target.mean(dim=0)).square().sum(dim=0)
        exact = torch.where(residual == 0, 1.0, 0.0).to(output.dtype)
        tiny = torch.finfo(total.dtype).tiny
        r2 = torch.where(total > 0, 1.0 - residual / total.clamp_min(tiny), exact)
        return float(r2.mean())
