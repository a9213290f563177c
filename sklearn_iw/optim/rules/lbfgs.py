"""Limited-memory BFGS, computed by ``torch.optim.LBFGS``."""

from __future__ import annotations

from typing import Any

import torch

from .._spec import COUNT, NON_NEGATIVE, POSITIVE, OptimizerSpec


class _PicklableLBFGS(torch.optim.LBFGS):
    """``torch.optim.LBFGS`` that can step again after a pickle round trip.

    torch pickles an optimizer's defaults, state and parameter groups only; LBFGS also
    keeps its parameter list and their total size as attributes, restored here.
    """

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickle as torch does, then restore the parameter list and its size cache.

        Parameters
        ----------
        state : dict
            What torch pickled: defaults, state and parameter groups.
        """
        super().__setstate__(state)
        self._params = self.param_groups[0]["params"]
        self._numel_cache = None


class LBFGS(OptimizerSpec):
    """Limited-memory BFGS on the full batch, with a strong-Wolfe line search.

    Maps to ``torch.optim.LBFGS(lr=lr, max_iter=max_iter, history_size=history_size,
    line_search_fn='strong_wolfe')`` with up to 25 function evaluations per iteration for
    the line search; one engine epoch is one call of ``step``, which runs up to
    ``max_iter`` L-BFGS iterations. The default of one iteration per epoch makes the
    estimator's ``max_iter`` count L-BFGS iterations, as in scikit-learn's MLP, and lets
    ``tol``/``n_iter_no_change`` judge every iteration. The built optimizer survives a
    pickle round trip (torch's own LBFGS cannot step again after one).

    Converged means a gradient no larger than ``tolerance_grad`` in every coordinate
    (torch's ``tolerance_grad``): from then on an epoch evaluates the objective and takes
    no step, and the estimator's ``n_iter_no_change`` ends the run. The estimators'
    ``optimizer='lbfgs'`` sets it to their ``tol``, as scikit-learn's MLP passes ``tol``
    to L-BFGS as its gradient tolerance: past that point the objective is flat to the
    tolerance, the inverse-Hessian estimate grows as large as ``1 / curvature`` (1e4 to
    1e6 on separable data) and the steps it takes multiply the rounding of the gradient,
    so that fits on data that differ only by rounding (weighted against repeated rows)
    part by ~1e-6 after a few dozen such steps.

    Parameters
    ----------
    lr : float, default=1.0
        Step length scale.
    max_iter : int, default=1
        L-BFGS iterations per epoch.
    history_size : int, default=10
        Number of curvature pairs kept.
    tolerance_grad : float, default=1e-9
        Largest absolute gradient entry at which the iteration stops stepping.

    Examples
    --------
    >>> from sklearn_iw.solvers import LBFGS, quadratic_iterates
    >>> bool(quadratic_iterates(LBFGS(max_iter=5), steps=1).abs().max() < 1e-4)
    True
    """

    name = "lbfgs"
    full_batch = True
    computed_by = "torch.optim.LBFGS"
    optimizer_class = _PicklableLBFGS
    tol_parameter = "tolerance_grad"
    _parameter_constraints = {
        "lr": [POSITIVE],
        "max_iter": [COUNT],
        "history_size": [COUNT],
        "tolerance_grad": [NON_NEGATIVE],
    }

    def __init__(
        self,
        lr: float = 1.0,
        max_iter: int = 1,
        history_size: int = 10,
        tolerance_grad: float = 1e-9,
    ):
        self.lr = lr
        self.max_iter = max_iter
        self.history_size = history_size
        self.tolerance_grad = tolerance_grad

    def _optimizer_kwargs(self) -> dict[str, Any]:
        return {
            **self.get_params(deep=False),
            # torch's budget of int(1.25 * max_iter) evaluations starves the strong-Wolfe
            # line search at small max_iter (at max_iter=1 the step never moves).
            "max_eval": 25 * self.max_iter,
            "tolerance_change": 1e-12,
            "line_search_fn": "strong_wolfe",
        }
