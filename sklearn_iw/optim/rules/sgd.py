"""Gradient descent, on minibatches (:class:`SGD`) or on the full training set (:class:`GD`)."""

from __future__ import annotations

import torch

from .._schedules import Plateau
from .._spec import POSITIVE, OptimizerSpec


class SGD(OptimizerSpec):
    """Stochastic gradient descent: ``w <- w - lr * g`` on each minibatch.

    Maps to ``torch.optim.SGD(lr=lr)``, which computes exactly this. With
    ``batch_size=1`` this is online learning.

    Parameters
    ----------
    lr : float, default=0.1
        Learning rate (step size).

    Examples
    --------
    >>> from sklearn_iw.solvers import SGD, quadratic_iterates
    >>> quadratic_iterates(SGD(lr=0.1))
    tensor([[ 0.9000, -1.8000],
            [ 0.8100, -1.6200]])

    In an estimator, with the learning rate tunable as ``optimizer__lr``:

    >>> from sklearn_iw import IWLogisticRegression
    >>> IWLogisticRegression(optimizer=SGD(lr=0.05)).get_params()["optimizer__lr"]
    0.05
    """

    name = "sgd"
    # A fixed step suits one scale of the features only: the estimators' 'auto' schedule
    # halves it when the training loss stops falling (a step too large for unscaled data).
    default_schedule = Plateau.name
    computed_by = "torch.optim.SGD"
    optimizer_class = torch.optim.SGD
    _parameter_constraints = {"lr": [POSITIVE]}

    def __init__(self, lr: float = 0.1):
        self.lr = lr


class GD(SGD):
    """Gradient descent on the full training set: ``w <- w - lr * g``.

    The same rule as :class:`SGD` (``torch.optim.SGD``), but the engine always uses one
    batch holding every training sample.

    Parameters
    ----------
    lr : float, default=0.5
        Learning rate (step size).

    Examples
    --------
    >>> from sklearn_iw.solvers import GD, quadratic_iterates
    >>> quadratic_iterates(GD())
    tensor([[ 0.5000, -1.0000],
            [ 0.2500, -0.5000]])
    >>> GD.full_batch  # the engine feeds the whole training set as one batch
    True
    """

    name = "gd"
    full_batch = True

    def __init__(self, lr: float = 0.5):
        self.lr = lr
