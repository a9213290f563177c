"""Optimizer specs: small estimators that build a ``torch.optim.Optimizer``.

A spec holds hyperparameters only (``__init__`` stores them, as in scikit-learn), so
``clone`` copies it and ``GridSearchCV`` can tune ``optimizer__lr``. The training engine
calls :meth:`OptimizerSpec.build` once per fit. Where ``torch.optim`` computes the rule
the spec documents, it is used as is; the docstring of each spec gives the mapping.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

import torch
from sklearn.base import BaseEstimator, clone


class OptimizerSpec(BaseEstimator):
    """Base class of optimizer specs.

    Subclasses store their hyperparameters in ``__init__`` and implement
    :meth:`build`. Two class attributes tell the engine how to drive them.

    Attributes
    ----------
    name : str
        The string accepted by the estimators' ``optimizer`` parameter.
    full_batch : bool
        If True the engine ignores ``batch_size`` and feeds the whole training set
        as one batch (plain gradient descent, L-BFGS).
    """

    name: ClassVar[str] = ""
    full_batch: ClassVar[bool] = False

    def build(self, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        """Return a fresh torch optimizer over ``params``.

        Parameters
        ----------
        params : iterable of torch.nn.Parameter
            The parameters to optimize.

        Returns
        -------
        optimizer : torch.optim.Optimizer
        """
        raise NotImplementedError

    def _validate(self) -> None:
        """Raise ``ValueError`` for hyperparameters outside their domain."""
        for key, value in self.get_params(deep=False).items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if value < 0 or value != value:
                raise ValueError(
                    f"{type(self).__name__}: {key} must be non-negative, got {value!r}."
                )


class SGD(OptimizerSpec):
    """Stochastic gradient descent: ``w <- w - lr * g`` on each minibatch.

    Maps to ``torch.optim.SGD(lr=lr)``. With ``batch_size=1`` this is online learning.

    Parameters
    ----------
    lr : float, default=0.01
        Learning rate (step size).
    """

    name = "sgd"

    def __init__(self, lr: float = 0.01):
        self.lr = lr

    def build(self, params):
        self._validate()
        return torch.optim.SGD(params, lr=self.lr)


class GD(SGD):
    """Gradient descent on the full training set: ``w <- w - lr * g``.

    The same rule as :class:`SGD`, but the engine always uses one batch holding
    every training sample.

    Parameters
    ----------
    lr : float, default=0.1
        Learning rate (step size).
    """

    name = "gd"
    full_batch = True

    def __init__(self, lr: float = 0.1):
        self.lr = lr


class Momentum(OptimizerSpec):
    """Heavy-ball momentum.

    Maps to ``torch.optim.SGD(lr=lr, momentum=momentum)``:
    ``v <- momentum * v + g``, ``w <- w - lr * v`` (buffer starts at ``g``).

    Parameters
    ----------
    lr : float, default=0.01
        Learning rate.
    momentum : float, default=0.9
        Momentum factor in [0, 1).
    """

    name = "momentum"

    def __init__(self, lr: float = 0.01, momentum: float = 0.9):
        self.lr = lr
        self.momentum = momentum

    def build(self, params):
        self._validate()
        return torch.optim.SGD(params, lr=self.lr, momentum=self.momentum)


class Nesterov(Momentum):
    """Nesterov accelerated gradient.

    Maps to ``torch.optim.SGD(lr=lr, momentum=momentum, nesterov=True)``.

    Parameters
    ----------
    lr : float, default=0.01
        Learning rate.
    momentum : float, default=0.9
        Momentum factor in [0, 1).
    """

    name = "nesterov"

    def build(self, params):
        self._validate()
        return torch.optim.SGD(params, lr=self.lr, momentum=self.momentum, nesterov=True)


class Adagrad(OptimizerSpec):
    """AdaGrad (Duchi et al. 2011).

    Maps to ``torch.optim.Adagrad(lr=lr, eps=eps)``:
    ``v <- v + g**2``, ``w <- w - lr * g / (sqrt(v) + eps)``.

    Parameters
    ----------
    lr : float, default=0.05
        Learning rate.
    eps : float, default=1e-8
        Term added for numerical stability.
    """

    name = "adagrad"

    def __init__(self, lr: float = 0.05, eps: float = 1e-8):
        self.lr = lr
        self.eps = eps

    def build(self, params):
        self._validate()
        return torch.optim.Adagrad(params, lr=self.lr, eps=self.eps)


class RMSprop(OptimizerSpec):
    """RMSprop (Tieleman & Hinton 2012).

    Maps to ``torch.optim.RMSprop(lr=lr, alpha=gamma, eps=eps)``:
    ``v <- gamma * v + (1 - gamma) * g**2``, ``w <- w - lr * g / (sqrt(v) + eps)``.

    Parameters
    ----------
    lr : float, default=0.001
        Learning rate.
    gamma : float, default=0.9
        Decay of the running mean of squared gradients.
    eps : float, default=1e-8
        Term added for numerical stability.
    """

    name = "rmsprop"

    def __init__(self, lr: float = 0.001, gamma: float = 0.9, eps: float = 1e-8):
        self.lr = lr
        self.gamma = gamma
        self.eps = eps

    def build(self, params):
        self._validate()
        return torch.optim.RMSprop(params, lr=self.lr, alpha=self.gamma, eps=self.eps)


class Adadelta(OptimizerSpec):
    """Adadelta (Zeiler 2012).

    Maps to ``torch.optim.Adadelta(lr=lr, rho=rho, eps=eps)``, Zeiler's rule scaled by ``lr``
    (``lr=1`` is the paper's).

    Parameters
    ----------
    lr : float, default=1.0
        Factor applied to Zeiler's update.
    rho : float, default=0.95
        Decay of both running averages.
    eps : float, default=1e-6
        Term added inside the square roots.
    """

    name = "adadelta"

    def __init__(self, lr: float = 1.0, rho: float = 0.95, eps: float = 1e-6):
        self.lr = lr
        self.rho = rho
        self.eps = eps

    def build(self, params):
        self._validate()
        return torch.optim.Adadelta(params, lr=self.lr, rho=self.rho, eps=self.eps)


class Adam(OptimizerSpec):
    """Adam with bias correction (Kingma & Ba 2015).

    Maps to ``torch.optim.Adam(lr=lr, betas=(beta1, beta2), eps=eps)``.

    Parameters
    ----------
    lr : float, default=0.001
        Learning rate.
    beta1 : float, default=0.9
        Decay of the first-moment estimate.
    beta2 : float, default=0.999
        Decay of the second-moment estimate.
    eps : float, default=1e-8
        Term added to the denominator.
    """

    name = "adam"

    def __init__(
        self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8
    ):
        self.lr = lr
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps

    def build(self, params):
        self._validate()
        return torch.optim.Adam(params, lr=self.lr, betas=(self.beta1, self.beta2), eps=self.eps)


class Rprop(OptimizerSpec):
    """Resilient backpropagation (Riedmiller & Braun 1993), full batch by nature.

    Maps to ``torch.optim.Rprop(lr=lr, etas=(eta_minus, eta_plus), step_sizes=(step_min,
    step_max))``: per-weight steps grow by ``eta_plus`` while the gradient keeps its sign
    and shrink by ``eta_minus`` when it flips; ``w <- w - step * sign(g)``.

    Parameters
    ----------
    lr : float, default=0.01
        Initial per-weight step size.
    eta_plus : float, default=1.2
        Growth factor.
    eta_minus : float, default=0.5
        Shrink factor.
    step_min : float, default=1e-6
        Smallest step size.
    step_max : float, default=50.0
        Largest step size.
    """

    name = "rprop"
    full_batch = True

    def __init__(
        self,
        lr: float = 0.01,
        eta_plus: float = 1.2,
        eta_minus: float = 0.5,
        step_min: float = 1e-6,
        step_max: float = 50.0,
    ):
        self.lr = lr
        self.eta_plus = eta_plus
        self.eta_minus = eta_minus
        self.step_min = step_min
        self.step_max = step_max

    def build(self, params):
        self._validate()
        return torch.optim.Rprop(
            params,
            lr=self.lr,
            etas=(self.eta_minus, self.eta_plus),
            step_sizes=(self.step_min, self.step_max),
        )


class LBFGS(OptimizerSpec):
    """Limited-memory BFGS on the full batch, with a strong-Wolfe line search.

    Maps to ``torch.optim.LBFGS(lr=lr, max_iter=max_iter, history_size=history_size,
    line_search_fn='strong_wolfe')``; one engine epoch is one call of ``step``, which
    runs up to ``max_iter`` L-BFGS iterations.

    Parameters
    ----------
    lr : float, default=1.0
        Step length scale.
    max_iter : int, default=20
        L-BFGS iterations per epoch.
    history_size : int, default=10
        Number of curvature pairs kept.
    """

    name = "lbfgs"
    full_batch = True

    def __init__(self, lr: float = 1.0, max_iter: int = 20, history_size: int = 10):
        self.lr = lr
        self.max_iter = max_iter
        self.history_size = history_size

    def build(self, params):
        self._validate()
        return torch.optim.LBFGS(
            params,
            lr=self.lr,
            max_iter=self.max_iter,
            history_size=self.history_size,
            tolerance_grad=1e-9,
            tolerance_change=1e-12,
            line_search_fn="strong_wolfe",
        )


OPTIMIZERS: dict[str, type[OptimizerSpec]] = {
    cls.name: cls
    for cls in (GD, SGD, Momentum, Nesterov, Adagrad, RMSprop, Adadelta, Adam, Rprop, LBFGS)
}


def resolve_optimizer(optimizer: str | OptimizerSpec) -> OptimizerSpec:
    """Turn the ``optimizer`` parameter of an estimator into a fresh spec.

    Parameters
    ----------
    optimizer : str or OptimizerSpec
        A name from ``OPTIMIZERS`` or a spec instance (cloned, never modified).

    Returns
    -------
    spec : OptimizerSpec
    """
    if isinstance(optimizer, OptimizerSpec):
        return clone(optimizer)
    if isinstance(optimizer, str) and optimizer in OPTIMIZERS:
        return OPTIMIZERS[optimizer]()
    raise ValueError(
        f"optimizer must be one of {sorted(OPTIMIZERS)} or an OptimizerSpec instance, "
        f"got {optimizer!r}."
    )
