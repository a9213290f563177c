"""The base of the hand-written optimizers and the two families that share an update.

Every optimizer follows the torch/skorch convention ``step(closure)``: the closure zeroes
the gradients, runs forward and backward on the current batch and returns the loss.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, ClassVar

import torch
from torch import Tensor

Closure = Callable[[], Tensor]


def evaluate(closure: Closure | None) -> Tensor | None:
    """Run ``closure`` with autograd enabled (``step`` itself runs under ``no_grad``).

    Parameters
    ----------
    closure : callable or None
        Zeroes the gradients, computes the loss, back-propagates and returns the loss.

    Returns
    -------
    loss : Tensor or None
        What the closure returned, None without a closure.
    """
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()


class RuleOptimizer(torch.optim.Optimizer):
    """Base class of the hand-written rules: per-weight state, one gradient per step.

    :meth:`step` evaluates the closure at the current weights, then applies
    :meth:`_update` to every parameter that received a gradient. A parameter's state is
    created at its first step: one zero tensor per name in ``_buffers``, plus whatever
    :meth:`_initial_state` adds. Hyperparameters carry the lectures' names and are
    keyword-only without defaults: the spec of each rule holds the defaults, validates
    the values and documents the rule.

    Parameters
    ----------
    params : iterable of Tensor or dict
        Parameters to optimize, or parameter groups (dicts that may override the
        hyperparameters), as for any ``torch.optim.Optimizer``.
    **hyperparameters : float
        The rule's hyperparameters, by the names in ``_hyperparameters`` (all of them).

    Examples
    --------
    Subclasses are used like any torch optimizer; without a closure, ``step`` uses the
    gradients already stored in ``p.grad``:

    >>> import torch
    >>> from sklearn_iw.solvers import MomentumOptimizer, RuleOptimizer
    >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    >>> optimizer = MomentumOptimizer([w], lr=0.1, momentum=0.0)
    >>> isinstance(optimizer, RuleOptimizer)
    True
    >>> w.grad = torch.tensor([1.0, 1.0])
    >>> optimizer.step()
    >>> w.data
    tensor([ 0.9000, -2.1000])
    """

    _buffers: ClassVar[tuple[str, ...]] = ()
    # The names of the rule's hyperparameters (keyword-only, no defaults).
    _hyperparameters: ClassVar[tuple[str, ...]] = ()

    def __init__(self, params: Iterable[Any], **hyperparameters: float):
        missing = set(self._hyperparameters) - set(hyperparameters)
        unknown = set(hyperparameters) - set(self._hyperparameters)
        if missing or unknown:
            raise TypeError(
                f"{type(self).__name__} takes the hyperparameters {self._hyperparameters}; "
                f"missing {sorted(missing)}, unknown {sorted(unknown)}."
            )
        super().__init__(params, hyperparameters)

    def _initial_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        """Return the state of ``p`` before its first step.

        Parameters
        ----------
        p : Tensor
            The parameter.
        group : dict
            Its parameter group (hyperparameters by name).

        Returns
        -------
        state : dict of str to Tensor
        """
        return {name: torch.zeros_like(p) for name in self._buffers}

    def _tracked(self) -> Iterator[tuple[Tensor, dict[str, Tensor], dict[str, Any]]]:
        """Walk the parameters, creating the state of those never seen.

        Yields
        ------
        p : Tensor
            A parameter.
        state : dict of str to Tensor
            Its state.
        group : dict
            Its parameter group (hyperparameters by name).
        """
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                if not state:
                    state.update(self._initial_state(p, group))
                yield p, state, group

    def _update(
        self, p: Tensor, g: Tensor, state: dict[str, Tensor], group: dict[str, Any]
    ) -> None:
        """Apply the rule to one parameter in place.

        Parameters
        ----------
        p : Tensor
            The parameter (weights ``w``), updated in place.
        g : Tensor
            Its gradient at the current weights.
        state : dict of str to Tensor
            Its state, updated in place.
        group : dict
            Its parameter group (hyperparameters by name).
        """
        raise NotImplementedError

    @torch.no_grad()
    def step(self, closure: Closure | None = None) -> Tensor | None:
        """Take one step of the rule.

        Parameters
        ----------
        closure : callable, optional
            Zeroes the gradients, computes the loss, back-propagates and returns the
            loss. Without it the gradients already stored in ``p.grad`` are used.

        Returns
        -------
        loss : Tensor or None
            The closure's loss at the weights before the step.
        """
        loss = evaluate(closure)
        for p, state, group in self._tracked():
            if p.grad is not None:
                self._update(p, p.grad, state, group)
        return loss


class RootScaledOptimizer(RuleOptimizer):
    """``v <- keep * v + new * g**2``, then ``w <- w - lr * g / sqrt(v + eps)``.

    ``eps`` is inside the square root, as in the lectures (AdaGrad, RMSprop). Subclasses
    give the two coefficients of the accumulation in :meth:`_coefficients`.

    Parameters
    ----------
    params : iterable of Tensor or dict
        Parameters to optimize, or parameter groups.
    defaults : dict
        Hyperparameters of the rule, by name; ``lr`` and ``eps`` among them.
    """

    _buffers = ("v",)

    def _coefficients(self, group: dict[str, Any]) -> tuple[float, float]:
        """Return ``(keep, new)``, the weights of the old ``v`` and of ``g**2``.

        Parameters
        ----------
        group : dict
            The parameter group (hyperparameters by name).

        Returns
        -------
        keep, new : float
        """
        raise NotImplementedError

    def _update(
        self, p: Tensor, g: Tensor, state: dict[str, Tensor], group: dict[str, Any]
    ) -> None:
        keep, new = self._coefficients(group)
        state["v"].mul_(keep).addcmul_(g, g, value=new)
        p.addcdiv_(g, state["v"].add(group["eps"]).sqrt_(), value=-group["lr"])


class PerWeightRateOptimizer(RuleOptimizer):
    """Rules with one learning rate ``eta_i`` per weight, starting at ``lr``.

    Each step first adapts the rates (:meth:`_adapt`, from the gradient and the
    subclass's buffers), then moves ``w_i <- w_i - eta_i * d_i`` with ``d = g`` (or its
    sign, :meth:`_direction`). ``lr`` only initialises the rates, so a learning-rate
    schedule acting on the group's ``lr`` has no effect after the first step.

    Parameters
    ----------
    params : iterable of Tensor or dict
        Parameters to optimize, or parameter groups.
    defaults : dict
        Hyperparameters of the rule, by name; ``lr`` among them.
    """

    def _initial_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        state = super()._initial_state(p, group)
        state["rates"] = torch.full_like(p, group["lr"])
        return state

    def _adapt(self, g: Tensor, state: dict[str, Tensor], group: dict[str, Any]) -> None:
        """Update ``state['rates']`` and the rule's buffers in place for gradient ``g``.

        Parameters
        ----------
        g : Tensor
            The gradient at the current weights.
        state : dict of str to Tensor
            The parameter's state.
        group : dict
            The parameter group (hyperparameters by name).
        """
        raise NotImplementedError

    def _direction(self, g: Tensor) -> Tensor:
        """Return the direction scaled by the rates: the gradient itself by default.

        Parameters
        ----------
        g : Tensor
            The gradient at the current weights.

        Returns
        -------
        d : Tensor
        """
        return g

    def _update(
        self, p: Tensor, g: Tensor, state: dict[str, Tensor], group: dict[str, Any]
    ) -> None:
        self._adapt(g, state, group)
        p.addcmul_(state["rates"], self._direction(g), value=-1)
