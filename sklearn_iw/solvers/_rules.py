"""Hand-written ``torch.optim.Optimizer`` subclasses: the lectures' update rules, verbatim.

``torch.optim`` implements close relatives of several classic rules whose iterates differ
from the lectures' formulas: its momentum buffer starts at ``g`` whatever the dampening,
its Nesterov is the reparametrised form (the iterates are the look-ahead points), AdaGrad
and RMSprop add ``eps`` outside the square root, and Rprop skips the step after a sign
change. The rules below are therefore written out, one formula each.

Every optimizer follows the torch/skorch convention ``step(closure)``: the closure zeroes
the gradients, runs forward and backward on the current batch and returns the loss.
Hyperparameters carry the lectures' names and are keyword-only without defaults: the
specs in :mod:`sklearn_iw.solvers._optimizers` hold the defaults and validate the values.

Notation: ``g`` is the gradient of the mean batch loss at the current weights ``w``,
``t = 1, 2, ...`` counts calls of ``step`` and every product, quotient, comparison or
root is elementwise (one adaptive quantity per weight).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, ClassVar

import torch
from torch import Tensor

Closure = Callable[[], Tensor]


def _evaluate(closure: Closure | None) -> Tensor | None:
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
    :meth:`_initial_state` adds.

    Parameters
    ----------
    params : iterable of Tensor or dict
        Parameters to optimize, or parameter groups (dicts that may override the
        hyperparameters), as for any ``torch.optim.Optimizer``.
    defaults : dict
        Hyperparameters of the rule, by name.

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
        loss = _evaluate(closure)
        for p, state, group in self._tracked():
            if p.grad is not None:
                self._update(p, p.grad, state, group)
        return loss


class MomentumOptimizer(RuleOptimizer):
    """Momentum in exponential-moving-average form.

    ``m <- mu * m + (1 - mu) * g`` with ``m = 0`` before the first step, then
    ``w <- w - lr * m``. ``torch.optim.SGD(momentum=mu, dampening=mu)`` is not this rule:
    torch initialises its buffer to ``g`` undamped, so its first step is ``lr * g``
    instead of ``lr * (1 - mu) * g`` and all later iterates differ.

    Parameters
    ----------
    params : iterable of Tensor or dict
        Parameters to optimize, or parameter groups.
    lr : float
        Learning rate ``eta``.
    momentum : float
        Momentum factor ``mu`` in [0, 1).

    Examples
    --------
    >>> import torch
    >>> from sklearn_iw.solvers import MomentumOptimizer
    >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    >>> optimizer = MomentumOptimizer([w], lr=0.1, momentum=0.5)
    >>> def closure():  # the loss (w ** 2).sum() / 2, whose gradient is w
    ...     optimizer.zero_grad()
    ...     loss = (w ** 2).sum() / 2
    ...     loss.backward()
    ...     return loss
    >>> _ = optimizer.step(closure)
    >>> w.data
    tensor([ 0.9500, -1.9000])
    >>> _ = optimizer.step(closure)
    >>> w.data
    tensor([ 0.8775, -1.7550])
    """

    _buffers = ("m",)

    def __init__(self, params: Iterable[Any], *, lr: float, momentum: float):
        super().__init__(params, {"lr": lr, "momentum": momentum})

    def _update(self, p, g, state, group):
        mu = group["momentum"]
        state["m"].mul_(mu).add_(g, alpha=1 - mu)
        p.add_(state["m"], alpha=-group["lr"])


class NesterovOptimizer(RuleOptimizer):
    """Nesterov's accelerated gradient with the exact look-ahead gradient.

    ``v <- mu * v - lr * grad R(w + mu * v)`` with ``v = 0`` before the first step, then
    ``w <- w + v``. The parameters are moved to the look-ahead point ``w + mu * v``
    before the closure is called, so the closure's gradient (and the returned loss) are
    those at the look-ahead point; after the step the parameters hold ``w``.
    ``torch.optim.SGD(nesterov=True)`` is the reparametrised variant whose iterates are
    the look-ahead points and whose gradient is taken at them, so its sequence differs.

    A closure is required. A parameter that receives no gradient is treated as having a
    zero gradient, so that it is moved back from its look-ahead point consistently.

    Parameters
    ----------
    params : iterable of Tensor or dict
        Parameters to optimize, or parameter groups.
    lr : float
        Learning rate ``eta``.
    momentum : float
        Momentum factor ``mu`` in [0, 1).

    Examples
    --------
    >>> import torch
    >>> from sklearn_iw.solvers import NesterovOptimizer
    >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    >>> optimizer = NesterovOptimizer([w], lr=0.1, momentum=0.5)
    >>> def closure():  # the loss (w ** 2).sum() / 2, whose gradient is w
    ...     optimizer.zero_grad()
    ...     loss = (w ** 2).sum() / 2
    ...     loss.backward()
    ...     return loss
    >>> _ = optimizer.step(closure)
    >>> w.data
    tensor([ 0.9000, -1.8000])
    >>> _ = optimizer.step(closure)
    >>> w.data
    tensor([ 0.7650, -1.5300])

    The second gradient was taken at ``w + 0.5 * v = [0.85, -1.7]``.
    """

    _buffers = ("v",)

    def __init__(self, params: Iterable[Any], *, lr: float, momentum: float):
        super().__init__(params, {"lr": lr, "momentum": momentum})

    @torch.no_grad()
    def step(self, closure: Closure | None = None) -> Tensor | None:
        """Take one Nesterov step; the gradient is the closure's at ``w + mu * v``.

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
        loss = _evaluate(closure)
        for p, state, group in tracked:
            g = p.grad if p.grad is not None else torch.zeros_like(p)
            state["v"].mul_(group["momentum"]).add_(g, alpha=-group["lr"])
            # p holds w + mu * v_old, so w + v_new = p - lr * g.
            p.add_(g, alpha=-group["lr"])
        return loss


class _RootScaledOptimizer(RuleOptimizer):
    """``v <- keep * v + new * g**2``, then ``w <- w - lr * g / sqrt(v + eps)``.

    ``eps`` is inside the square root, as in the lectures. Subclasses give the two
    coefficients of the accumulation in :meth:`_coefficients`.

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

    def _update(self, p, g, state, group):
        keep, new = self._coefficients(group)
        state["v"].mul_(keep).addcmul_(g, g, value=new)
        p.addcdiv_(g, state["v"].add(group["eps"]).sqrt_(), value=-group["lr"])


class AdagradOptimizer(_RootScaledOptimizer):
    """AdaGrad: ``v <- v + g**2``, ``w <- w - lr * g / sqrt(v + eps)``, ``v = 0`` at start.

    ``torch.optim.Adagrad`` divides by ``sqrt(v) + eps`` instead.

    Parameters
    ----------
    params : iterable of Tensor or dict
        Parameters to optimize, or parameter groups.
    lr : float
        Learning rate ``eta``.
    eps : float
        Added to ``v`` inside the square root.

    Examples
    --------
    >>> import torch
    >>> from sklearn_iw.solvers import AdagradOptimizer
    >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    >>> optimizer = AdagradOptimizer([w], lr=0.5, eps=1e-8)
    >>> def closure():  # the loss (w ** 2).sum() / 2, whose gradient is w
    ...     optimizer.zero_grad()
    ...     loss = (w ** 2).sum() / 2
    ...     loss.backward()
    ...     return loss
    >>> _ = optimizer.step(closure)
    >>> w.data
    tensor([ 0.5000, -1.5000])
    >>> _ = optimizer.step(closure)
    >>> w.data
    tensor([ 0.2764, -1.2000])
    """

    def __init__(self, params: Iterable[Any], *, lr: float, eps: float):
        super().__init__(params, {"lr": lr, "eps": eps})

    def _coefficients(self, group):
        return 1.0, 1.0


class RMSpropOptimizer(_RootScaledOptimizer):
    """RMSprop: ``v <- gamma * v + (1 - gamma) * g**2``, ``w <- w - lr * g / sqrt(v + eps)``.

    ``v = 0`` before the first step. ``torch.optim.RMSprop`` divides by
    ``sqrt(v) + eps`` instead.

    Parameters
    ----------
    params : iterable of Tensor or dict
        Parameters to optimize, or parameter groups.
    lr : float
        Learning rate ``eta``.
    gamma : float
        Decay of the running mean of squared gradients, in [0, 1).
    eps : float
        Added to ``v`` inside the square root.

    Examples
    --------
    >>> import torch
    >>> from sklearn_iw.solvers import RMSpropOptimizer
    >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    >>> optimizer = RMSpropOptimizer([w], lr=0.1, gamma=0.9, eps=1e-8)
    >>> def closure():  # the loss (w ** 2).sum() / 2, whose gradient is w
    ...     optimizer.zero_grad()
    ...     loss = (w ** 2).sum() / 2
    ...     loss.backward()
    ...     return loss
    >>> _ = optimizer.step(closure)
    >>> w.data
    tensor([ 0.6838, -1.6838])

    The first step is ``lr * g / sqrt(0.1 * g**2) = lr * sign(g) / sqrt(0.1)``.
    """

    def __init__(self, params: Iterable[Any], *, lr: float, gamma: float, eps: float):
        super().__init__(params, {"lr": lr, "gamma": gamma, "eps": eps})

    def _coefficients(self, group):
        return group["gamma"], 1 - group["gamma"]


class _PerWeightRateOptimizer(RuleOptimizer):
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

    def _initial_state(self, p, group):
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

    def _update(self, p, g, state, group):
        self._adapt(g, state, group)
        p.addcmul_(state["rates"], self._direction(g), value=-1)


class RpropOptimizer(_PerWeightRateOptimizer):
    """Rprop with step bounds, as in the lectures.

    ``eta_i <- eta_plus * eta_i`` if ``g_i(t-1) * g_i(t) > 0``, ``eta_minus * eta_i`` if it
    is ``< 0`` (unchanged if 0, in particular at ``t = 1`` where ``g(0) = 0``), then
    ``eta_i`` is clipped to ``[step_min, step_max]`` and ``w_i <- w_i - eta_i * sign(g_i)``.
    Unlike ``torch.optim.Rprop`` (Rprop-), the step is taken even after a sign change
    and the gradient is remembered as is.

    Parameters
    ----------
    params : iterable of Tensor or dict
        Parameters to optimize, or parameter groups.
    lr : float
        Initial step size ``eta_i(0)``.
    eta_plus : float
        Growth factor, > 1.
    eta_minus : float
        Shrink factor, in (0, 1).
    step_min : float
        Lower bound on the step sizes.
    step_max : float
        Upper bound on the step sizes.

    Examples
    --------
    >>> import torch
    >>> from sklearn_iw.solvers import RpropOptimizer
    >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    >>> optimizer = RpropOptimizer(
    ...     [w], lr=0.1, eta_plus=1.2, eta_minus=0.5, step_min=1e-6, step_max=50.0
    ... )
    >>> def closure():  # the loss (w ** 2).sum() / 2, whose gradient is w
    ...     optimizer.zero_grad()
    ...     loss = (w ** 2).sum() / 2
    ...     loss.backward()
    ...     return loss
    >>> _ = optimizer.step(closure)
    >>> w.data
    tensor([ 0.9000, -1.9000])
    >>> _ = optimizer.step(closure)
    >>> w.data
    tensor([ 0.7800, -1.7800])
    """

    _buffers = ("prev_grad",)

    def __init__(
        self,
        params: Iterable[Any],
        *,
        lr: float,
        eta_plus: float,
        eta_minus: float,
        step_min: float,
        step_max: float,
    ):
        defaults = {
            "lr": lr,
            "eta_plus": eta_plus,
            "eta_minus": eta_minus,
            "step_min": step_min,
            "step_max": step_max,
        }
        super().__init__(params, defaults)

    def _adapt(self, g, state, group):
        agreement = state["prev_grad"] * g
        factor = torch.where(
            agreement > 0,
            group["eta_plus"],
            torch.where(agreement < 0, group["eta_minus"], torch.ones_like(g)),
        )
        state["rates"].mul_(factor).clamp_(group["step_min"], group["step_max"])
        state["prev_grad"].copy_(g)

    def _direction(self, g):
        return g.sign()


class DeltaDeltaOptimizer(_PerWeightRateOptimizer):
    """Delta-delta: ``eta_i <- eta_i + gamma * g_i(t) * g_i(t-1)``, ``w_i <- w_i - eta_i g_i``.

    ``g(0) = 0``, so the first step uses ``eta_i = lr``. The updated rate is clipped to
    ``[lr_min, lr_max]`` before the step: the raw rule (``lr_min=-inf, lr_max=inf``) lets
    a rate turn negative after an oscillation (gradient ascent) or jump by
    ``gamma * g**2``, which diverges as soon as the gradients are large (the weakness
    that delta-bar-delta fixes).

    Parameters
    ----------
    params : iterable of Tensor or dict
        Parameters to optimize, or parameter groups.
    lr : float
        Initial learning rate of every weight ``eta_i(0)``.
    gamma : float
        Meta learning rate of the rates.
    lr_min : float
        Lower bound on the rates.
    lr_max : float
        Upper bound on the rates.

    Examples
    --------
    >>> import torch
    >>> from sklearn_iw.solvers import DeltaDeltaOptimizer
    >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    >>> optimizer = DeltaDeltaOptimizer([w], lr=0.5, gamma=0.1, lr_min=0.0, lr_max=2.0)
    >>> def closure():  # the loss (w ** 2).sum() / 2, whose gradient is w
    ...     optimizer.zero_grad()
    ...     loss = (w ** 2).sum() / 2
    ...     loss.backward()
    ...     return loss
    >>> _ = optimizer.step(closure)
    >>> w.data
    tensor([ 0.5000, -1.0000])
    >>> _ = optimizer.step(closure)
    >>> w.data
    tensor([ 0.2250, -0.3000])
    """

    _buffers = ("prev_grad",)

    def __init__(
        self, params: Iterable[Any], *, lr: float, gamma: float, lr_min: float, lr_max: float
    ):
        super().__init__(params, {"lr": lr, "gamma": gamma, "lr_min": lr_min, "lr_max": lr_max})

    def _adapt(self, g, state, group):
        state["rates"].addcmul_(g, state["prev_grad"], value=group["gamma"])
        state["rates"].clamp_(group["lr_min"], group["lr_max"])
        state["prev_grad"].copy_(g)


class DeltaBarDeltaOptimizer(_PerWeightRateOptimizer):
    """Delta-bar-delta (Jacobs 1988).

    With the running mean ``gbar_i(t) = theta * gbar_i(t-1) + (1 - theta) * g_i(t)``
    (``gbar(0) = 0``), each step changes the rate by ``+kappa`` if
    ``gbar_i(t-1) * g_i(t) > 0``, by ``-phi * eta_i`` if it is ``< 0`` and not at all if 0,
    then ``w_i <- w_i - eta_i * g_i`` with the new rate. The comparison uses the mean
    *before* the current gradient enters it, as in Jacobs's paper: the variant with
    ``gbar_i(t) * g_i(t)`` partly compares ``g_i(t)`` with itself and so reacts late to a
    sign change.

    Parameters
    ----------
    params : iterable of Tensor or dict
        Parameters to optimize, or parameter groups.
    lr : float
        Initial learning rate of every weight ``eta_i(0)``.
    kappa : float
        Additive increase of a rate.
    phi : float
        Multiplicative decrease of a rate, in [0, 1].
    theta : float
        Decay of the running mean of the gradient, in [0, 1).

    Examples
    --------
    >>> import torch
    >>> from sklearn_iw.solvers import DeltaBarDeltaOptimizer
    >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    >>> optimizer = DeltaBarDeltaOptimizer([w], lr=0.5, kappa=0.01, phi=0.2, theta=0.7)
    >>> def closure():  # the loss (w ** 2).sum() / 2, whose gradient is w
    ...     optimizer.zero_grad()
    ...     loss = (w ** 2).sum() / 2
    ...     loss.backward()
    ...     return loss
    >>> _ = optimizer.step(closure)
    >>> w.data
    tensor([ 0.5000, -1.0000])
    >>> _ = optimizer.step(closure)
    >>> w.data
    tensor([ 0.2450, -0.4900])

    The second step's rates grew by ``kappa`` to 0.51: ``gbar(1) * g(2) > 0``.
    """

    _buffers = ("bar_grad",)

    def __init__(self, params: Iterable[Any], *, lr: float, kappa: float, phi: float, theta: float):
        super().__init__(params, {"lr": lr, "kappa": kappa, "phi": phi, "theta": theta})

    def _adapt(self, g, state, group):
        rates, bar = state["rates"], state["bar_grad"]
        agreement = bar * g
        change = torch.where(
            agreement > 0,
            group["kappa"],
            torch.where(agreement < 0, -group["phi"] * rates, 0.0),
        )
        rates.add_(change)
        bar.mul_(group["theta"]).add_(g, alpha=1 - group["theta"])


class QuickpropOptimizer(RuleOptimizer):
    """Quickprop (Fahlman 1988): a per-weight secant (parabola) step.

    ``dw_i(t) = g_i(t) / (g_i(t-1) - g_i(t)) * dw_i(t-1)`` and ``w_i <- w_i + dw_i(t)``,
    with two safeguards, applied per weight:

    * fallback: where ``dw_i(t-1) == 0`` (no previous step, in particular at ``t = 1``)
      or ``g_i(t-1) == g_i(t)`` (the denominator vanishes), the step is the plain
      gradient step ``dw_i(t) = -lr * g_i(t)``, not capped;
    * growth cap: otherwise the secant step is clipped to
      ``[-mu_max * |dw_i(t-1)|, mu_max * |dw_i(t-1)|]`` (its sign is kept).

    The cap also bounds the step where the parabola opens downwards (the secant then
    points uphill); no gradient term is added to the secant step.

    Parameters
    ----------
    params : iterable of Tensor or dict
        Parameters to optimize, or parameter groups.
    lr : float
        Learning rate ``eta`` of the fallback gradient step.
    mu_max : float
        Maximum growth factor of a weight's step.

    Examples
    --------
    >>> import torch
    >>> from sklearn_iw.solvers import QuickpropOptimizer
    >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    >>> optimizer = QuickpropOptimizer([w], lr=0.5, mu_max=1.75)
    >>> def closure():  # the loss (w ** 2).sum() / 2, whose gradient is w
    ...     optimizer.zero_grad()
    ...     loss = (w ** 2).sum() / 2
    ...     loss.backward()
    ...     return loss
    >>> _ = optimizer.step(closure)
    >>> w.data
    tensor([ 0.5000, -1.0000])
    >>> _ = optimizer.step(closure)
    >>> w.data
    tensor([0., 0.])

    On a quadratic the secant step of the second call lands on the minimum.
    """

    _buffers = ("prev_grad", "prev_delta")

    def __init__(self, params: Iterable[Any], *, lr: float, mu_max: float):
        super().__init__(params, {"lr": lr, "mu_max": mu_max})

    def _update(self, p, g, state, group):
        prev_grad, prev_delta = state["prev_grad"], state["prev_delta"]
        denominator = prev_grad - g
        fallback = (prev_delta == 0) | (denominator == 0)
        # Dividing by 1 where the fallback applies keeps inf and nan out of the result.
        secant = g / torch.where(fallback, 1.0, denominator) * prev_delta
        cap = group["mu_max"] * prev_delta.abs()
        delta = torch.where(fallback, -group["lr"] * g, torch.clamp(secant, -cap, cap))
        p.add_(delta)
        prev_delta.copy_(delta)
        prev_grad.copy_(g)
