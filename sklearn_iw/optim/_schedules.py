"""Learning-rate schedule specs, built on ``torch.optim.lr_scheduler``.

Each spec is a small estimator (clone-able, tunable by grid search) whose
:meth:`ScheduleSpec.build` validates its hyperparameters and returns a torch scheduler.
Schedules step once per epoch (``t`` below counts epochs from 0); ``lr0`` is the
optimizer's learning rate. Continued fits (``partial_fit``, ``warm_start``) keep the
scheduler object, so schedules continue.
"""

from __future__ import annotations

import math
from functools import partial
from numbers import Integral, Real
from typing import Any, ClassVar

import torch
from sklearn.base import BaseEstimator
from torch.optim import lr_scheduler

from ._spec import COUNT, FRACTION, NON_NEGATIVE, POSITIVE, NumberInterval

Scheduler = lr_scheduler.LRScheduler | lr_scheduler.ReduceLROnPlateau


class ScheduleSpec(BaseEstimator):
    """Base class of learning-rate schedule specs.

    Subclasses store their hyperparameters in ``__init__``, declare their domains in
    ``_parameter_constraints`` (scikit-learn's constraints) and make the scheduler in
    :meth:`_scheduler`.

    Attributes
    ----------
    name : str
        The string accepted by the estimators' ``lr_schedule`` parameter.
    reads_training_loss : bool
        Whether the schedule reacts to the training loss (of every sample), so that
        removing a sample that never acted on an update can still change the run.

    Examples
    --------
    >>> from sklearn_iw import IWMLPClassifier
    >>> from sklearn_iw.solvers import Cosine, ScheduleSpec
    >>> isinstance(Cosine(), ScheduleSpec), Cosine.name
    (True, 'cosine')
    >>> clf = IWMLPClassifier(optimizer="sgd", lr_schedule=Cosine(eta_min=1e-4))
    >>> clf.set_params(lr_schedule__eta_min=1e-3).lr_schedule
    Cosine(eta_min=0.001)
    """

    name: ClassVar[str] = ""
    reads_training_loss: ClassVar[bool] = False
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {}

    def build(self, optimizer: torch.optim.Optimizer, n_epochs: int) -> Scheduler:
        """Validate the hyperparameters and return a torch scheduler for ``optimizer``.

        Parameters
        ----------
        optimizer : torch.optim.Optimizer
            The optimizer whose learning rate is scheduled.
        n_epochs : int
            Number of epochs of the fit (``max_iter``), for schedules with a horizon.

        Returns
        -------
        scheduler : torch.optim.lr_scheduler.LRScheduler or ReduceLROnPlateau

        Raises
        ------
        sklearn.utils._param_validation.InvalidParameterError
            (a ``ValueError``) If a hyperparameter is outside its domain.
        """
        self._validate_params()
        return self._scheduler(optimizer, n_epochs)

    def _scheduler(self, optimizer: torch.optim.Optimizer, n_epochs: int) -> Scheduler:
        """Return the torch scheduler (parameters as for :meth:`build`)."""
        raise NotImplementedError


def lr_factors(spec: ScheduleSpec, n_epochs: int = 4) -> list[float]:
    """Return the learning rate of epochs ``0, ..., n_epochs`` under ``spec``, for ``lr0 = 1``.

    Parameters
    ----------
    spec : ScheduleSpec
        The schedule.
    n_epochs : int, default=4
        Number of epochs of the fit (the horizon of the schedules that have one); the
        learning rate of the epoch after the last is included.

    Returns
    -------
    factors : list of float
        ``lr(t) / lr0`` for ``t = 0, ..., n_epochs``.

    Examples
    --------
    The loop it runs: read the rate, step the optimizer, then the scheduler, once per
    epoch (plateau schedules are given a training loss that never improves):

    >>> import torch
    >>> from sklearn_iw.solvers import Exponential, lr_factors
    >>> optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    >>> scheduler = Exponential(gamma=0.5).build(optimizer, n_epochs=4)
    >>> for epoch in range(3):
    ...     print(optimizer.param_groups[0]["lr"])
    ...     optimizer.step()
    ...     scheduler.step()
    1.0
    0.5
    0.25
    >>> lr_factors(Exponential(gamma=0.5), n_epochs=2)
    [1.0, 0.5, 0.25]
    """
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = spec.build(optimizer, n_epochs)
    factors = []
    for _ in range(n_epochs + 1):
        factors.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        if isinstance(scheduler, lr_scheduler.ReduceLROnPlateau):
            scheduler.step(1.0)  # a training loss that never improves
        else:
            scheduler.step()
    return factors


def _inverse_time(t: int, decay: float) -> float:
    return 1.0 / (1.0 + decay * t)


def _inverse_sqrt(t: int, decay: float) -> float:
    return 1.0 / math.sqrt(1.0 + decay * t)


class Constant(ScheduleSpec):
    """Constant learning rate: ``lr(t) = lr0`` (``torch ConstantLR`` with factor 1).

    Examples
    --------
    >>> from sklearn_iw.solvers import Constant, lr_factors
    >>> lr_factors(Constant())
    [1.0, 1.0, 1.0, 1.0, 1.0]
    """

    name = "constant"

    def _scheduler(self, optimizer: torch.optim.Optimizer, n_epochs: int) -> Scheduler:
        return lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)


class Exponential(ScheduleSpec):
    """Exponential decay: ``lr(t) = lr0 * gamma**t`` (``torch ExponentialLR``).

    Parameters
    ----------
    gamma : float, default=0.97
        Multiplicative decay per epoch, in (0, 1].

    Examples
    --------
    >>> from sklearn_iw.solvers import Exponential, lr_factors
    >>> lr_factors(Exponential(gamma=0.5))
    [1.0, 0.5, 0.25, 0.125, 0.0625]
    """

    name = "exponential"
    _parameter_constraints = {"gamma": [NumberInterval(Real, 0, 1, closed="right")]}

    def __init__(self, gamma: float = 0.97):
        self.gamma = gamma

    def _scheduler(self, optimizer: torch.optim.Optimizer, n_epochs: int) -> Scheduler:
        return lr_scheduler.ExponentialLR(optimizer, gamma=self.gamma)


class InverseTime(ScheduleSpec):
    """Inverse-time decay: ``lr(t) = lr0 / (1 + decay * t)`` (``torch LambdaLR``).

    Parameters
    ----------
    decay : float, default=0.1
        Decay rate ``k``, >= 0.

    Examples
    --------
    >>> from sklearn_iw.solvers import InverseTime, lr_factors
    >>> lr_factors(InverseTime(decay=1.0))
    [1.0, 0.5, 0.3333, 0.25, 0.2]
    """

    name = "inverse_time"
    _parameter_constraints = {"decay": [NON_NEGATIVE]}

    def __init__(self, decay: float = 0.1):
        self.decay = decay

    def _scheduler(self, optimizer: torch.optim.Optimizer, n_epochs: int) -> Scheduler:
        return lr_scheduler.LambdaLR(optimizer, partial(_inverse_time, decay=self.decay))


class InverseSqrt(ScheduleSpec):
    """Inverse square-root decay: ``lr(t) = lr0 / sqrt(1 + decay * t)`` (``torch LambdaLR``).

    Parameters
    ----------
    decay : float, default=1.0
        Decay rate ``k``, >= 0.

    Examples
    --------
    >>> from sklearn_iw.solvers import InverseSqrt, lr_factors
    >>> lr_factors(InverseSqrt(decay=3.0))
    [1.0, 0.5, 0.378, 0.3162, 0.2774]
    """

    name = "inverse_sqrt"
    _parameter_constraints = {"decay": [NON_NEGATIVE]}

    def __init__(self, decay: float = 1.0):
        self.decay = decay

    def _scheduler(self, optimizer: torch.optim.Optimizer, n_epochs: int) -> Scheduler:
        return lr_scheduler.LambdaLR(optimizer, partial(_inverse_sqrt, decay=self.decay))


class Linear(ScheduleSpec):
    """Linear decay from ``lr0`` to ``end_factor * lr0`` over the fit (``torch LinearLR``).

    ``lr(t) = lr0 * (1 + (end_factor - 1) * min(t, T) / T)`` with ``T = max_iter``.

    Parameters
    ----------
    end_factor : float, default=0.01
        Fraction of ``lr0`` reached at the last epoch, in [0, 1].

    Examples
    --------
    >>> from sklearn_iw.solvers import Linear, lr_factors
    >>> lr_factors(Linear(end_factor=0.2))
    [1.0, 0.8, 0.6, 0.4, 0.2]
    """

    name = "linear"
    _parameter_constraints = {"end_factor": [FRACTION]}

    def __init__(self, end_factor: float = 0.01):
        self.end_factor = end_factor

    def _scheduler(self, optimizer: torch.optim.Optimizer, n_epochs: int) -> Scheduler:
        return lr_scheduler.LinearLR(
            optimizer,
            start_factor=1.0,
            end_factor=self.end_factor,
            total_iters=max(n_epochs, 1),
        )


class Cosine(ScheduleSpec):
    """Cosine annealing over the fit (``torch CosineAnnealingLR``).

    ``lr(t) = eta_min + (lr0 - eta_min) * (1 + cos(pi * t / T)) / 2`` with ``T = max_iter``.

    Parameters
    ----------
    eta_min : float, default=0.0
        Learning rate reached at the end, >= 0.

    Examples
    --------
    >>> from sklearn_iw.solvers import Cosine, lr_factors
    >>> lr_factors(Cosine())
    [1.0, 0.8536, 0.5, 0.1464, 0.0]
    """

    name = "cosine"
    _parameter_constraints = {"eta_min": [NON_NEGATIVE]}

    def __init__(self, eta_min: float = 0.0):
        self.eta_min = eta_min

    def _scheduler(self, optimizer: torch.optim.Optimizer, n_epochs: int) -> Scheduler:
        return lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=max(n_epochs, 1), eta_min=self.eta_min
        )


class CosineRestarts(ScheduleSpec):
    """Cosine annealing with warm restarts, SGDR (``torch CosineAnnealingWarmRestarts``).

    Within a cycle of length ``T_i`` (``T_0``, then multiplied by ``T_mult``),
    ``lr = eta_min + (lr0 - eta_min) * (1 + cos(pi * t_cur / T_i)) / 2``.

    Parameters
    ----------
    T_0 : int, default=10
        Length of the first cycle in epochs, >= 1.
    T_mult : int, default=2
        Factor by which each cycle is longer than the previous, an integer >= 1.
    eta_min : float, default=0.0
        Smallest learning rate, >= 0.

    Examples
    --------
    >>> from sklearn_iw.solvers import CosineRestarts, lr_factors
    >>> lr_factors(CosineRestarts(T_0=2, T_mult=1))
    [1.0, 0.5, 1.0, 0.5, 1.0]
    """

    name = "cosine_restarts"
    _parameter_constraints = {"T_0": [COUNT], "T_mult": [COUNT], "eta_min": [NON_NEGATIVE]}

    def __init__(self, T_0: int = 10, T_mult: int = 2, eta_min: float = 0.0):  # noqa: N803
        self.T_0 = T_0
        self.T_mult = T_mult
        self.eta_min = eta_min

    def _scheduler(self, optimizer: torch.optim.Optimizer, n_epochs: int) -> Scheduler:
        return lr_scheduler.CosineAnnealingWarmRestarts(
            optimizer,
            T_0=self.T_0,
            T_mult=self.T_mult,
            eta_min=self.eta_min,
        )


class _ClampedOneCycleLR(lr_scheduler.OneCycleLR):
    """``OneCycleLR`` that stays at its final rate after the cycle instead of raising.

    Continued fits (``partial_fit``, ``warm_start``) may run past ``max_iter`` epochs.
    """

    def get_lr(self):
        epoch = self.last_epoch
        self.last_epoch = min(epoch, self.total_steps - 1)
        try:
            return super().get_lr()
        finally:
            self.last_epoch = epoch


class OneCycle(ScheduleSpec):
    """One-cycle policy over the fit (``torch OneCycleLR``, stepped per epoch).

    Rises from ``lr0 / div_factor`` to ``lr0`` during ``pct_start`` of the epochs, then
    anneals (cosine) to ``lr0 / (div_factor * final_div_factor)``.

    Parameters
    ----------
    pct_start : float, default=0.3
        Fraction of the epochs spent increasing the learning rate, in [0, 1].
    div_factor : float, default=25.0
        ``lr0`` divided by the starting learning rate, > 0.
    final_div_factor : float, default=1e4
        Starting learning rate divided by the final one, > 0.

    Examples
    --------
    >>> from sklearn_iw.solvers import OneCycle, lr_factors
    >>> lr_factors(OneCycle())
    [0.04, 0.9505, 0.6113, 0.1883, 4e-06]
    """

    name = "one_cycle"
    _parameter_constraints = {
        "pct_start": [FRACTION],
        "div_factor": [POSITIVE],
        "final_div_factor": [POSITIVE],
    }

    def __init__(
        self, pct_start: float = 0.3, div_factor: float = 25.0, final_div_factor: float = 1e4
    ):
        self.pct_start = pct_start
        self.div_factor = div_factor
        self.final_div_factor = final_div_factor

    def _scheduler(self, optimizer: torch.optim.Optimizer, n_epochs: int) -> Scheduler:
        max_lr = [group["lr"] for group in optimizer.param_groups]
        return _ClampedOneCycleLR(
            optimizer,
            max_lr=max_lr,
            total_steps=max(n_epochs, 1) + 1,
            pct_start=self.pct_start,
            div_factor=self.div_factor,
            final_div_factor=self.final_div_factor,
            cycle_momentum=False,
        )


class Plateau(ScheduleSpec):
    """Reduce the learning rate when the monitored loss stops improving.

    ``torch ReduceLROnPlateau`` on the training loss (validation loss with early stopping):
    after ``patience`` epochs without a relative improvement of ``threshold``, multiply the
    learning rate by ``factor``.

    Parameters
    ----------
    factor : float, default=0.5
        Multiplicative reduction, in (0, 1).
    patience : int, default=5
        Epochs without improvement before a reduction, >= 0.
    threshold : float, default=1e-4
        Relative improvement that counts, >= 0.
    min_lr : float, default=0.0
        Lower bound on the learning rate, >= 0.

    Examples
    --------
    >>> from sklearn_iw.solvers import Plateau, lr_factors
    >>> lr_factors(Plateau(patience=1))
    [1.0, 1.0, 1.0, 0.5, 0.5]
    """

    name = "plateau"
    reads_training_loss = True
    _parameter_constraints = {
        "factor": [NumberInterval(Real, 0, 1, closed="neither")],
        "patience": [NumberInterval(Integral, 0, None, closed="left")],
        "threshold": [NON_NEGATIVE],
        "min_lr": [NON_NEGATIVE],
    }

    def __init__(
        self, factor: float = 0.5, patience: int = 5, threshold: float = 1e-4, min_lr: float = 0.0
    ):
        self.factor = factor
        self.patience = patience
        self.threshold = threshold
        self.min_lr = min_lr

    def _scheduler(self, optimizer: torch.optim.Optimizer, n_epochs: int) -> Scheduler:
        return lr_scheduler.ReduceLROnPlateau(
            optimizer,
            factor=self.factor,
            patience=self.patience,
            threshold=self.threshold,
            min_lr=self.min_lr,
        )


# The schedules the estimators' lr_schedule names, in the order the docs list them.
SCHEDULE_SPECS = (
    Constant,
    Exponential,
    InverseTime,
    InverseSqrt,
    Linear,
    Cosine,
    CosineRestarts,
    OneCycle,
    Plateau,
)
