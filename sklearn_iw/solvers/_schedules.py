"""Learning-rate schedule specs, built on ``torch.optim.lr_scheduler``.

Each spec is a small estimator (clone-able, tunable by grid search) whose
:meth:`ScheduleSpec.build` returns a torch scheduler. Schedules step once per epoch
(``t`` below counts epochs from 0); ``lr0`` is the optimizer's learning rate. Continued
fits (``partial_fit``, ``warm_start``) keep the scheduler object, so schedules continue.
"""

from __future__ import annotations

import math
from functools import partial
from typing import ClassVar

import torch
from sklearn.base import BaseEstimator
from torch.optim import lr_scheduler

from ._registry import resolve_spec


class ScheduleSpec(BaseEstimator):
    """Base class of learning-rate schedule specs.

    Attributes
    ----------
    name : str
        The string accepted by the estimators' ``lr_schedule`` parameter.

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

    def build(self, optimizer: torch.optim.Optimizer, n_epochs: int):
        """Return a torch scheduler for ``optimizer``.

        Parameters
        ----------
        optimizer : torch.optim.Optimizer
            The optimizer whose learning rate is scheduled.
        n_epochs : int
            Number of epochs of the fit (``max_iter``), for schedules with a horizon.

        Returns
        -------
        scheduler : torch.optim.lr_scheduler.LRScheduler or ReduceLROnPlateau
        """
        raise NotImplementedError


def _inverse_time(t: int, decay: float) -> float:
    return 1.0 / (1.0 + decay * t)


def _inverse_sqrt(t: int, decay: float) -> float:
    return 1.0 / math.sqrt(1.0 + decay * t)


class Constant(ScheduleSpec):
    """Constant learning rate: ``lr(t) = lr0`` (``torch ConstantLR`` with factor 1).

    Examples
    --------
    >>> import torch
    >>> from sklearn_iw.solvers import Constant
    >>> optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    >>> scheduler = Constant().build(optimizer, n_epochs=4)
    >>> rates = []
    >>> for epoch in range(4):
    ...     rates.append(round(optimizer.param_groups[0]["lr"], 4))
    ...     optimizer.step()
    ...     scheduler.step()
    >>> rates
    [1.0, 1.0, 1.0, 1.0]
    """

    name = "constant"

    def build(self, optimizer, n_epochs):
        return lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)


class Exponential(ScheduleSpec):
    """Exponential decay: ``lr(t) = lr0 * gamma**t`` (``torch ExponentialLR``).

    Parameters
    ----------
    gamma : float, default=0.97
        Multiplicative decay per epoch.

    Examples
    --------
    >>> import torch
    >>> from sklearn_iw.solvers import Exponential
    >>> optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    >>> scheduler = Exponential(gamma=0.5).build(optimizer, n_epochs=4)
    >>> rates = []
    >>> for epoch in range(4):
    ...     rates.append(round(optimizer.param_groups[0]["lr"], 4))
    ...     optimizer.step()
    ...     scheduler.step()
    >>> rates
    [1.0, 0.5, 0.25, 0.125]
    """

    name = "exponential"

    def __init__(self, gamma: float = 0.97):
        self.gamma = gamma

    def build(self, optimizer, n_epochs):
        return lr_scheduler.ExponentialLR(optimizer, gamma=self.gamma)


class InverseTime(ScheduleSpec):
    """Inverse-time decay: ``lr(t) = lr0 / (1 + decay * t)`` (``torch LambdaLR``).

    Parameters
    ----------
    decay : float, default=0.1
        Decay rate ``k``.

    Examples
    --------
    >>> import torch
    >>> from sklearn_iw.solvers import InverseTime
    >>> optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    >>> scheduler = InverseTime(decay=1.0).build(optimizer, n_epochs=4)
    >>> rates = []
    >>> for epoch in range(4):
    ...     rates.append(round(optimizer.param_groups[0]["lr"], 4))
    ...     optimizer.step()
    ...     scheduler.step()
    >>> rates
    [1.0, 0.5, 0.3333, 0.25]
    """

    name = "inverse_time"

    def __init__(self, decay: float = 0.1):
        self.decay = decay

    def build(self, optimizer, n_epochs):
        return lr_scheduler.LambdaLR(optimizer, partial(_inverse_time, decay=self.decay))


class InverseSqrt(ScheduleSpec):
    """Inverse square-root decay: ``lr(t) = lr0 / sqrt(1 + decay * t)`` (``torch LambdaLR``).

    Parameters
    ----------
    decay : float, default=1.0
        Decay rate ``k``.

    Examples
    --------
    >>> import torch
    >>> from sklearn_iw.solvers import InverseSqrt
    >>> optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    >>> scheduler = InverseSqrt(decay=3.0).build(optimizer, n_epochs=4)
    >>> rates = []
    >>> for epoch in range(4):
    ...     rates.append(round(optimizer.param_groups[0]["lr"], 4))
    ...     optimizer.step()
    ...     scheduler.step()
    >>> rates
    [1.0, 0.5, 0.378, 0.3162]
    """

    name = "inverse_sqrt"

    def __init__(self, decay: float = 1.0):
        self.decay = decay

    def build(self, optimizer, n_epochs):
        return lr_scheduler.LambdaLR(optimizer, partial(_inverse_sqrt, decay=self.decay))


class Linear(ScheduleSpec):
    """Linear decay from ``lr0`` to ``end_factor * lr0`` over the fit (``torch LinearLR``).

    ``lr(t) = lr0 * (1 + (end_factor - 1) * min(t, T) / T)`` with ``T = max_iter``.

    Parameters
    ----------
    end_factor : float, default=0.01
        Fraction of ``lr0`` reached at the last epoch.

    Examples
    --------
    >>> import torch
    >>> from sklearn_iw.solvers import Linear
    >>> optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    >>> scheduler = Linear(end_factor=0.2).build(optimizer, n_epochs=4)
    >>> rates = []
    >>> for epoch in range(5):
    ...     rates.append(round(optimizer.param_groups[0]["lr"], 4))
    ...     optimizer.step()
    ...     scheduler.step()
    >>> rates
    [1.0, 0.8, 0.6, 0.4, 0.2]
    """

    name = "linear"

    def __init__(self, end_factor: float = 0.01):
        self.end_factor = end_factor

    def build(self, optimizer, n_epochs):
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
        Learning rate reached at the end.

    Examples
    --------
    >>> import torch
    >>> from sklearn_iw.solvers import Cosine
    >>> optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    >>> scheduler = Cosine().build(optimizer, n_epochs=4)
    >>> rates = []
    >>> for epoch in range(5):
    ...     rates.append(round(optimizer.param_groups[0]["lr"], 4))
    ...     optimizer.step()
    ...     scheduler.step()
    >>> rates
    [1.0, 0.8536, 0.5, 0.1464, 0.0]
    """

    name = "cosine"

    def __init__(self, eta_min: float = 0.0):
        self.eta_min = eta_min

    def build(self, optimizer, n_epochs):
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
        Length of the first cycle in epochs.
    T_mult : int, default=2
        Factor by which each cycle is longer than the previous.
    eta_min : float, default=0.0
        Smallest learning rate.

    Examples
    --------
    >>> import torch
    >>> from sklearn_iw.solvers import CosineRestarts
    >>> optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    >>> scheduler = CosineRestarts(T_0=2, T_mult=1).build(optimizer, n_epochs=4)
    >>> rates = []
    >>> for epoch in range(5):
    ...     rates.append(round(optimizer.param_groups[0]["lr"], 4))
    ...     optimizer.step()
    ...     scheduler.step()
    >>> rates
    [1.0, 0.5, 1.0, 0.5, 1.0]
    """

    name = "cosine_restarts"

    def __init__(self, T_0: int = 10, T_mult: int = 2, eta_min: float = 0.0):  # noqa: N803
        self.T_0 = T_0
        self.T_mult = T_mult
        self.eta_min = eta_min

    def build(self, optimizer, n_epochs):
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
        Fraction of the epochs spent increasing the learning rate.
    div_factor : float, default=25.0
        ``lr0`` divided by the starting learning rate.
    final_div_factor : float, default=1e4
        Starting learning rate divided by the final one.

    Examples
    --------
    >>> import torch
    >>> from sklearn_iw.solvers import OneCycle
    >>> optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    >>> scheduler = OneCycle().build(optimizer, n_epochs=4)
    >>> rates = []
    >>> for epoch in range(5):
    ...     rates.append(round(optimizer.param_groups[0]["lr"], 4))
    ...     optimizer.step()
    ...     scheduler.step()
    >>> rates
    [0.04, 0.9505, 0.6113, 0.1883, 0.0]
    """

    name = "one_cycle"

    def __init__(
        self, pct_start: float = 0.3, div_factor: float = 25.0, final_div_factor: float = 1e4
    ):
        self.pct_start = pct_start
        self.div_factor = div_factor
        self.final_div_factor = final_div_factor

    def build(self, optimizer, n_epochs):
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
        Multiplicative reduction.
    patience : int, default=5
        Epochs without improvement before a reduction.
    threshold : float, default=1e-4
        Relative improvement that counts.
    min_lr : float, default=0.0
        Lower bound on the learning rate.

    Examples
    --------
    >>> import torch
    >>> from sklearn_iw.solvers import Plateau
    >>> optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    >>> scheduler = Plateau(patience=1).build(optimizer, n_epochs=4)
    >>> rates = []
    >>> for epoch in range(5):
    ...     rates.append(round(optimizer.param_groups[0]["lr"], 4))
    ...     optimizer.step()
    ...     scheduler.step(1.0)  # a training loss that never improves
    >>> rates
    [1.0, 1.0, 1.0, 0.5, 0.5]
    """

    name = "plateau"

    def __init__(
        self, factor: float = 0.5, patience: int = 5, threshold: float = 1e-4, min_lr: float = 0.0
    ):
        self.factor = factor
        self.patience = patience
        self.threshold = threshold
        self.min_lr = min_lr

    def build(self, optimizer, n_epochs):
        return lr_scheduler.ReduceLROnPlateau(
            optimizer,
            factor=self.factor,
            patience=self.patience,
            threshold=self.threshold,
            min_lr=self.min_lr,
        )


SCHEDULES: dict[str, type[ScheduleSpec]] = {
    cls.name: cls
    for cls in (
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
}


def resolve_schedule(lr_schedule: str | ScheduleSpec) -> ScheduleSpec:
    """Turn the ``lr_schedule`` parameter of an estimator into a fresh spec.

    Parameters
    ----------
    lr_schedule : str or ScheduleSpec
        A name from ``SCHEDULES`` or a spec instance (cloned, never modified).

    Returns
    -------
    spec : ScheduleSpec

    Examples
    --------
    >>> from sklearn_iw.solvers import Exponential, resolve_schedule
    >>> resolve_schedule("cosine")
    Cosine()
    >>> resolve_schedule(Exponential(gamma=0.9))
    Exponential(gamma=0.9)
    """
    return resolve_spec(lr_schedule, SCHEDULES, ScheduleSpec, "lr_schedule")
