"""Nesterov's accelerated gradient with the exact look-ahead gradient (hand-written)."""

from __future__ import annotations

import torch
from torch import Tensor

from ._base import Closure, RuleOptimizer, evaluate
from .momentum import Momentum


class NesterovOptimizer(RuleOptimizer):
    """The torch optimizer of :class:`~sklearn_iw.solvers.Nesterov`, which gives the rule.

    :meth:`step` needs a closure: it evaluates the gradient at the look-ahead point.

    Parameters
    ----------
    params : iterable of Tensor or dict
        Parameters to optimize, or parameter groups.
    lr, momentum : float
        The hyperparameters of the spec.
    """

    _buffers = ("v",)
    _hyperparameters = ("lr", "momentum")

    @torch.no_grad()
    def step(self, closure: Closure | None = None) -> Tensor | None:
        """Take one Nesterov step; the gradient is the closure's at ``w + mu * v``.

        The parameters are moved to the look-ahead point before the closure is called
        and hold ``w`` again after the step. A parameter that receives no gradient is
        treated as having a zero gradient, so that it is moved back consistently.

        Parameters
        ----------
        closure : callable
            Zeroes the gradients, computes the loss, back-propagates and returns the
            loss; called once, at the look-ahead point.

        Returns
        -------
        loss : Tensor
            The closure's loss at the look-ahead point ``w + mu * v``.
        """
        if closure is None:
            raise RuntimeError("NesterovOptimizer.step needs a closure (look-ahead gradient).")
        tracked = list(self._tracked())
        for p, state, group in tracked:
            p.add_(state["v"], alpha=group["momentum"])
        loss = evaluate(closure)
        for p, state, group in tracked:
            g = p.grad if p.grad is not None else torch.zeros_like(p)
            state["v"].mul_(group["momentum"]).add_(g, alpha=-group["lr"])
            # p holds w + mu * v_old, so w + v_new = p - lr * g.
            p.add_(g, alpha=-group["lr"])
        return loss


class Nesterov(Momentum):
    """Nesterov accelerated gradient with the exact look-ahead (hand-written).

    ``v <- momentum * v - lr * grad R(w + momentum * v)`` (``v = 0`` at start),
    ``w <- w + v``: :class:`~sklearn_iw.solvers.NesterovOptimizer`, which calls the
    closure at the look-ahead point. ``torch.optim.SGD(nesterov=True)`` is the
    reparametrised variant whose iterates are the look-ahead points and whose gradient is
    taken at them, so its sequence differs.

    Parameters
    ----------
    lr : float, default=0.01
        Learning rate ``eta``.
    momentum : float, default=0.9
        Momentum factor ``mu`` in [0, 1).

    Examples
    --------
    The second gradient is taken at the look-ahead point ``w + 0.9 * v``:

    >>> from sklearn_iw.solvers import Nesterov, quadratic_iterates
    >>> quadratic_iterates(Nesterov(lr=0.1, momentum=0.9))
    tensor([[ 0.9000, -1.8000],
            [ 0.7290, -1.4580]])
    """

    name = "nesterov"
    optimizer_class = NesterovOptimizer

    def __init__(self, lr: float = 0.01, momentum: float = 0.9):
        super().__init__(lr=lr, momentum=momentum)
