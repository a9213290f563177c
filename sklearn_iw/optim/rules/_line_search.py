"""The base of the line-search methods over the flattened parameter vector.

Conjugate gradient, BFGS and Newton-CG see all parameters as one vector ``x``: each
iteration evaluates the loss ``f`` and gradient ``g`` at ``x``, picks a direction ``d``
(the subclass's formula, from the state it keeps across steps) and moves to
``x + alpha * d``, with ``alpha`` from ``scipy.optimize.line_search`` (strong Wolfe
conditions, Nocedal & Wright's Algorithm 3.5). The state lives in ``self.state`` of the
first parameter, so it pickles, checkpoints through ``state_dict`` and survives from one
``step`` (one engine epoch) to the next.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import numpy as np
import torch
from scipy.optimize import line_search
from torch import Tensor

from ._base import Closure, evaluate

HessianProduct = Callable[[Tensor], Tensor]


def steepest_descent(g: Tensor, f: float) -> tuple[Tensor, float]:
    """Return ``-g`` and the ``old_old_fval`` that makes its first trial step ~1 long.

    As ``scipy.optimize.minimize`` starts CG and BFGS: ``old_old_fval = f + |g| / 2``, so
    the line search first tries ``alpha = min(1, 1.01 / |g|)``, a step of length about 1
    whatever the gradient's scale.

    Parameters
    ----------
    g : Tensor
        The gradient.
    f : float
        The loss.

    Returns
    -------
    d : Tensor
        The direction ``-g``.
    previous_f : float
        See :meth:`FlatOptimizer._line_search`.
    """
    return -g, f + float(torch.linalg.vector_norm(g)) / 2


class FlatOptimizer(torch.optim.Optimizer):
    """Base class of the line-search methods over the flattened parameters.

    Subclasses give the direction (:meth:`_direction`), remember what the next one needs
    (:meth:`_remember`) and forget it on a restart (:meth:`_forget`). One ``step`` runs
    ``max_iter`` iterations; each evaluates the closure once at its start and then as
    often as the line search asks.

    Parameters
    ----------
    params : iterable of Tensor
        Parameters to optimize (one group: the methods act on the joint vector).
    **defaults
        Hyperparameters of the method, by name (the spec's); ``lr`` and ``max_iter`` among
        them. ``lr`` scales the direction given to the line search, hence its first trial
        step (as ``torch.optim.LBFGS``'s ``lr``): learning-rate schedules act on it.

    Attributes
    ----------
    c2 : float
        The curvature constant of the strong Wolfe conditions (``c1`` is ``1e-4``).
    needs_graph : bool
        If True the closure returns the loss with its autograd graph without
        back-propagating, and the optimizer differentiates it with ``create_graph``
        (Hessian-vector products); else the closure leaves the gradients in ``p.grad``.
    """

    c2: ClassVar[float] = 0.9
    needs_graph: ClassVar[bool] = False

    def __init__(self, params: Iterable[Any], **defaults: Any):
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError(f"{type(self).__name__} takes one parameter group.")

    @property
    def _params(self) -> list[Tensor]:
        # A property, not an attribute: torch pickles only defaults, state and groups.
        return self.param_groups[0]["params"]

    @property
    def _flat_state(self) -> dict[str, Any]:
        """The method's state, kept with the first parameter (as ``torch.optim.LBFGS``)."""
        return self.state[self._params[0]]

    def _gather(self) -> Tensor:
        """Return the parameters as one vector (a copy)."""
        return torch.cat([p.detach().reshape(-1) for p in self._params])

    def _assign(self, x: Tensor) -> None:
        """Copy the vector ``x`` into the parameters."""
        offset = 0
        for p in self._params:
            p.copy_(x[offset : offset + p.numel()].view_as(p))
            offset += p.numel()

    def _evaluate(self, closure: Closure, create_graph: bool = False) -> tuple[Tensor, Tensor]:
        """Return the loss and the flat gradient at the current parameters.

        Parameters
        ----------
        closure : callable
            The training closure.
        create_graph : bool, default=False
            Keep the gradient's graph (for Hessian-vector products); only with
            ``needs_graph``.

        Returns
        -------
        loss : Tensor
            The closure's loss.
        grad : Tensor
            The gradient as one vector; unused parameters get zeros.
        """
        if not self.needs_graph:
            loss = evaluate(closure)
            return loss, self._flatten([p.grad for p in self._params])
        with torch.enable_grad():  # the flat gradient's graph is built here too
            loss = closure()
            try:
                grads = torch.autograd.grad(
                    loss, self._params, create_graph=create_graph, allow_unused=True
                )
            except RuntimeError as error:
                raise RuntimeError(
                    f"{type(self).__name__} differentiates the loss itself: its closure "
                    "must return the loss with its graph, without calling backward."
                ) from error
            return loss, self._flatten(grads)

    def _flatten(self, parts: Iterable[Tensor | None]) -> Tensor:
        """Concatenate per-parameter tensors into one vector, zeros for None (a
        parameter the loss does not use)."""
        return torch.cat(
            [
                torch.zeros_like(p).reshape(-1) if part is None else part.reshape(-1)
                for p, part in zip(self._params, parts, strict=True)
            ]
        )

    def _hessian_product(self, grad: Tensor) -> HessianProduct:
        """Return ``v -> H v`` from a gradient evaluated with ``create_graph=True``.

        Parameters
        ----------
        grad : Tensor
            The flat gradient, carrying its graph.

        Returns
        -------
        hvp : callable
            The exact Hessian-vector product (one double backward per call).
        """

        def hvp(v: Tensor) -> Tensor:
            with torch.enable_grad():
                parts = torch.autograd.grad(
                    grad, self._params, grad_outputs=v, retain_graph=True, allow_unused=True
                )
            return self._flatten(parts)

        return hvp

    def _line_search(
        self,
        closure: Closure,
        x: Tensor,
        f: float,
        g: Tensor,
        d: Tensor,
        previous_f: float | None,
    ) -> tuple[float, float, Tensor] | None:
        """Search ``x + alpha * d`` for a step satisfying the strong Wolfe conditions.

        Computed by ``scipy.optimize.line_search`` (in float64 on the host) with
        ``c1=1e-4``, ``c2=self.c2`` and its other defaults, along ``lr * d``; every trial
        point is evaluated by the closure. The parameters are left at the accepted
        point.

        Parameters
        ----------
        closure : callable
            The training closure.
        x, g, d : Tensor
            The current point, its gradient and the search direction (a descent one).
        f : float
            The loss at ``x``.
        previous_f : float or None
            scipy's ``old_old_fval``: the first trial step is
            ``min(1, 2.02 * (f - previous_f) / (g @ d))``; None tries the unit step first.

        Returns
        -------
        result : tuple or None
            ``(alpha, f_new, g_new)`` with the step ``alpha * d`` (``lr`` included), or
            None where the search failed (no step satisfies
            the conditions within scipy's 10 iterations, or rounding stalls it).
        """
        cache: dict[str, Any] = {}
        lr = self.param_groups[0]["lr"]
        x_host, d_host = x.double().cpu().numpy(), lr * d.double().cpu().numpy()

        def at(point: np.ndarray) -> tuple[float, np.ndarray]:
            # scipy asks for f and f' separately at the same points: one closure for both.
            if cache.get("point") is None or not np.array_equal(cache["point"], point):
                self._assign(torch.from_numpy(point).to(x))
                loss, grad = self._evaluate(closure)
                value = float(loss)
                cache.update(
                    point=point.copy(),
                    # A non-finite loss counts as infinitely high: the search backs off.
                    f=value if math.isfinite(value) else math.inf,
                    g=grad.detach().double().cpu().numpy(),
                )
            return cache["f"], cache["g"]

        with warnings.catch_warnings():
            # A failed search is handled by the caller (restart or no step), not reported.
            warnings.simplefilter("ignore")
            alpha, _, _, f_new, _, slope = line_search(
                lambda point: at(point)[0],
                lambda point: at(point)[1],
                x_host,
                d_host,
                gfk=g.double().cpu().numpy(),
                old_fval=f,
                old_old_fval=previous_f,
                c2=self.c2,
            )
        if alpha is None or slope is None or not math.isfinite(f_new):
            return None
        point = x_host + alpha * d_host
        _, g_new = at(point)
        self._assign(torch.from_numpy(point).to(x))
        return alpha * lr, f_new, torch.from_numpy(g_new).to(x)

    def _direction(
        self, x: Tensor, g: Tensor, f: float, state: dict[str, Any], hvp: HessianProduct | None
    ) -> tuple[Tensor, float | None]:
        """Return the search direction and scipy's ``old_old_fval`` for the first trial.

        Without memory in ``state`` and without ``hvp`` it is steepest descent, ``-g``.

        Parameters
        ----------
        x, g : Tensor
            The current point and its gradient.
        f : float
            The loss at the current point.
        state : dict
            The method's state (what :meth:`_remember` kept), updated in place.
        hvp : callable or None
            ``v -> H v`` at the current point, with ``needs_graph``.

        Returns
        -------
        d : Tensor
            A descent direction.
        previous_f : float or None
            See :meth:`_line_search`.
        """
        raise NotImplementedError

    def _remember(
        self, state: dict[str, Any], x: Tensor, f: float, g: Tensor, d: Tensor, alpha: float
    ) -> None:
        """Keep what the next direction needs after the step ``x -> x + alpha * d``.

        Parameters
        ----------
        state : dict
            The method's state, updated in place.
        x, g, d : Tensor
            The point the step started from, its gradient and the direction.
        f : float
            The loss at ``x``.
        alpha : float
            The step length.
        """

    def _forget(self, state: dict[str, Any]) -> None:
        """Restart: drop the memory, so that the next direction is steepest descent.

        Parameters
        ----------
        state : dict
            The method's state, cleared in place.
        """
        state.clear()

    @torch.no_grad()
    def step(self, closure: Closure | None = None) -> Tensor:
        """Take ``max_iter`` iterations of the method.

        Parameters
        ----------
        closure : callable
            Computes the loss at the current parameters (see ``needs_graph``); the line
            search calls it at every trial point.

        Returns
        -------
        loss : Tensor
            The loss at the parameters before the step.

        Raises
        ------
        RuntimeError
            Without a closure.
        """
        if closure is None:
            raise RuntimeError(f"{type(self).__name__} needs a closure.")
        state = self._flat_state
        first_loss = None
        evaluated = None
        for _ in range(self.defaults["max_iter"]):
            x = self._gather()
            if evaluated is None:
                loss, g_graph = self._evaluate(closure, create_graph=self.needs_graph)
                if first_loss is None:
                    first_loss = loss
                f, g = float(loss), g_graph.detach()
            else:
                (f, g), g_graph = evaluated, None
            if not (math.isfinite(f) and bool(g.isfinite().all())) or not bool(g.any()):
                break  # diverged (the engine rolls back) or at a stationary point
            hvp = self._hessian_product(g_graph) if self.needs_graph else None
            d, previous_f = self._direction(x, g, f, state, hvp)
            result = self._line_search(closure, x, f, g, d, previous_f)
            if result is None and not torch.equal(d, -g):
                # The memory or the curvature led nowhere: restart from steepest descent.
                self._forget(state)
                d, previous_f = self._direction(x, g, f, state, None)
                result = self._line_search(closure, x, f, g, d, previous_f)
            if result is None:
                self._assign(x)  # no step satisfies the conditions: stay
                self._forget(state)
                break
            alpha, f_new, g_new = result
            self._remember(state, x, f, g, d, alpha)
            # The next iteration of this step starts from the accepted trial point; with
            # needs_graph it evaluates again, to get the gradient's graph.
            evaluated = None if self.needs_graph else (f_new, g_new)
        return first_loss
