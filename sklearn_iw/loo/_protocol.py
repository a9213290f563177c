"""What the leave-one-out code asks of an estimator, declared once.

The leave-one-out wing never calls an estimator's private methods: it reads the fitted
attributes below and calls the methods of :class:`LeaveOneOutEstimator`, which every
estimator of the package implements (``BaseIWEstimator`` and its task layers).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from ._recorder import Checkpoint


@runtime_checkable
class LeaveOneOutEstimator(Protocol):
    """The protocol between the leave-one-out code and an estimator.

    Attributes
    ----------
    net_ : TrainingEngine
        The fitted engine, with the callbacks ``'loo'`` (:class:`LeaveOneOutRecorder`)
        and ``'stopping'`` (:class:`~sklearn_iw.engine._stopping.EpochStopping`).
    n_iter_ : int
        Epochs trained.
    activation_epoch_ : ndarray of shape (n_samples,)
        Each sample's first epoch with a positive importance weight, -1 if never.
    loo_reason_ : dict of str to str or None
        Why each leave-one-out quantity is not available, or None.
    """

    net_: Any
    n_iter_: int
    activation_epoch_: np.ndarray
    loo_reason_: dict

    def fit_with_checkpoints(self, X, y, sample_weight=None) -> Any:
        """Fit, keeping a :class:`Checkpoint` of the run at the start of every epoch."""

    def fit_from_checkpoint(self, X, y, sample_weight, checkpoint: Checkpoint) -> Any:
        """Train from ``checkpoint`` to the end of training, seeded as its run was."""

    def module_outputs(self, X, module: nn.Module | None = None) -> torch.Tensor:
        """The fitted module's outputs at ``X`` (or those of ``module``, other weights)."""

    def predictions_from_outputs(self, outputs: torch.Tensor) -> np.ndarray:
        """What ``predict`` answers for module outputs."""

    def decision_from_outputs(self, output: torch.Tensor) -> np.ndarray:
        """Decision values (a regressor's predicted values) of module outputs."""

    def prediction_error(self, predictions: np.ndarray, y: np.ndarray) -> float:
        """The error the leave-one-out error counts: error rate, or mean squared error."""

    def loo_obstacle(self) -> str | None:
        """Which of the estimator's settings break the leave-one-out lemma, or None."""
