"""Optimizer specs: small estimators that build a ``torch.optim.Optimizer``.

A spec holds hyperparameters only (``__init__`` stores them, as in scikit-learn), so
``clone`` copies it and ``GridSearchCV`` can tune ``optimizer__lr``. The training engine
calls :meth:`OptimizerSpec.build` once per fit, which validates the hyperparameters against
the spec's scikit-learn constraints and returns a fresh optimizer. The rules themselves,
one module each, are in :mod:`sklearn_iw.optim.rules`.

This module also holds the constraints that the optimizer and schedule specs share.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from numbers import Integral, Real
from typing import Any, ClassVar

import torch
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, InvalidParameterError


class NumberInterval(Interval):
    """scikit-learn's ``Interval`` that rejects booleans.

    ``True`` is an ``Integral`` (and a ``Real``) in Python, so ``Interval`` takes it for 1;
    a flag passed as a learning rate is a mistake, not a value.

    Parameters
    ----------
    type : {numbers.Integral, numbers.Real}
        The set of numbers of the interval.
    left, right : float or int or None
        The bounds; None is an infinite bound.
    closed : {'left', 'right', 'both', 'neither'}
        Which bounds belong to the interval. An open infinite bound excludes infinity.
    """

    def is_satisfied_by(self, val: object) -> bool:
        """Whether ``val`` is a number of the interval, and not a boolean.

        Parameters
        ----------
        val : object
            The value to check.

        Returns
        -------
        satisfied : bool
        """
        return not isinstance(val, bool) and super().is_satisfied_by(val)


# The domains the specs share; the open infinite ends exclude inf (and nan never passes).
POSITIVE = NumberInterval(Real, 0, None, closed="neither")
NON_NEGATIVE = NumberInterval(Real, 0, None, closed="left")
DECAY = NumberInterval(Real, 0, 1, closed="left")
FRACTION = NumberInterval(Real, 0, 1, closed="both")
COUNT = NumberInterval(Integral, 1, None, closed="left")


class OptimizerSpec(BaseEstimator):
    """Base class of optimizer specs.

    Subclasses store their hyperparameters in ``__init__``, declare their domains in
    ``_parameter_constraints`` (scikit-learn's constraints; the pairs that must be
    ordered, low first, in ``_ordered_pairs``) and name the optimizer class that
    :meth:`build` instantiates with them (renamed by :meth:`_optimizer_kwargs` where
    torch's names differ).

    Attributes
    ----------
    name : str
        The string accepted by the estimators' ``optimizer`` parameter.
    full_batch : bool
        If True the engine ignores ``batch_size`` and feeds the whole training set
        as one batch (plain gradient descent, L-BFGS, the sign- and secant-based rules).
    keyed_batches : bool
        If True the engine forms batches by hashing each sample's content, so that
        removing one sample leaves every other batch unchanged (the leave-one-out bound of
        importance weights needs this); batch sizes then vary around ``batch_size``.
    per_sample : bool
        If True the optimizer steps on per-sample losses (importance weights): the
        engine calls its ``per_sample_step`` instead of ``step`` (see
        :class:`~sklearn_iw.solvers.PerSampleOptimizer`).
    records_activity : bool
        If True each per-sample step records how much each sample acted on the update
        (``PerSampleStep.activity``, importance weights' ``a_i``): a sample that never
        acted changes no iterate, which the leave-one-out quantities build on.
    decoupled_weight_decay : bool
        If True, L2 is applied as a decoupled per-step weight decay
        ``W <- W / (1 + lr * alpha)`` instead of a gradient term.
    needs_graph : bool
        If True the optimizer differentiates the objective itself (Newton's
        Hessian-vector products need the gradient's own graph): its closure returns
        the loss, L2 penalty included, with its autograd graph and does not
        back-propagate. Otherwise the closure back-propagates and returns the loss.
    default_schedule : str
        The learning-rate schedule of the estimators' ``lr_schedule='auto'``.
    tol_parameter : str or None
        The hyperparameter that an estimator's plain optimizer name sets to the
        estimator's ``tol`` (L-BFGS's gradient tolerance, as in scikit-learn's MLP), or
        None.
    computed_by : str
        The ``torch.optim`` class that computes the rule (e.g. ``'torch.optim.SGD'``), or
        ``'hand-written'`` where the rule is this package's (``optimizer_class``); parts
        computed by libraries are joined with ``' + '`` (e.g. ``'hand-written +
        scipy.optimize.line_search'``).
    optimizer_class : type of torch.optim.Optimizer
        The optimizer that :meth:`build` returns.

    Examples
    --------
    A spec holds hyperparameters only; ``build`` returns a fresh torch optimizer:

    >>> import torch
    >>> from sklearn_iw.solvers import SGD, OptimizerSpec
    >>> spec = SGD(lr=0.05)
    >>> isinstance(spec, OptimizerSpec), spec.name, spec.full_batch, spec.computed_by
    (True, 'sgd', False, 'torch.optim.SGD')
    >>> type(spec.build([torch.nn.Parameter(torch.zeros(3))])).__name__
    'SGD'

    Specs are scikit-learn estimators, so grid searches reach their hyperparameters:

    >>> from sklearn_iw import IWLogisticRegression
    >>> clf = IWLogisticRegression(optimizer=spec)
    >>> clf.set_params(optimizer__lr=0.2).optimizer
    SGD(lr=0.2)
    """

    name: ClassVar[str] = ""
    full_batch: ClassVar[bool] = False
    keyed_batches: ClassVar[bool] = False
    per_sample: ClassVar[bool] = False
    records_activity: ClassVar[bool] = False
    decoupled_weight_decay: ClassVar[bool] = False
    needs_graph: ClassVar[bool] = False
    default_schedule: ClassVar[str] = "constant"
    tol_parameter: ClassVar[str | None] = None
    computed_by: ClassVar[str]
    optimizer_class: ClassVar[type[torch.optim.Optimizer]]
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {}
    _ordered_pairs: ClassVar[tuple[tuple[str, str], ...]] = ()

    def build(self, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        """Validate the hyperparameters and return a fresh optimizer over ``params``.

        Parameters
        ----------
        params : iterable of torch.nn.Parameter
            The parameters to optimize.

        Returns
        -------
        optimizer : torch.optim.Optimizer

        Raises
        ------
        sklearn.utils._param_validation.InvalidParameterError
            (a ``ValueError``) If a hyperparameter is outside its domain or an ordered
            pair is out of order.
        """
        self._validate()
        return self.optimizer_class(params, **self._optimizer_kwargs())

    def _optimizer_kwargs(self) -> dict[str, Any]:
        """Return the keyword arguments of ``optimizer_class``: the hyperparameters."""
        return self.get_params(deep=False)

    def _validate(self) -> None:
        """Raise ``InvalidParameterError`` for hyperparameters outside their domain or
        out of order."""
        self._validate_params()
        params = self.get_params(deep=False)
        for low, high in self._ordered_pairs:
            if params[low] > params[high]:
                raise InvalidParameterError(
                    f"The {low!r} parameter of {type(self).__name__} must not exceed "
                    f"{high!r} ({params[high]!r}). Got {params[low]!r} instead."
                )


def quadratic_iterates(
    spec: OptimizerSpec, steps: int = 2, w0: Sequence[float] = (1.0, -2.0)
) -> torch.Tensor:
    """Return the iterates of ``spec``'s optimizer on the loss ``(w ** 2).sum() / 2``.

    The loss's gradient is ``w`` itself, so a rule's first steps show its formula at a
    glance; the specs' examples use this.

    Parameters
    ----------
    spec : OptimizerSpec
        A gradient rule (its optimizer steps through ``step(closure)``).
    steps : int, default=2
        Number of steps.
    w0 : sequence of float, default=(1.0, -2.0)
        Starting weights.

    Returns
    -------
    iterates : torch.Tensor of shape (steps, len(w0))
        The weights after each step, in torch's default dtype.

    Examples
    --------
    It runs the torch/skorch loop ``step(closure)``, where the closure zeroes the
    gradients, computes the loss, back-propagates (unless the spec ``needs_graph``) and
    returns the loss:

    >>> import torch
    >>> from sklearn_iw.solvers import SGD, quadratic_iterates
    >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    >>> optimizer = SGD(lr=0.1).build([w])
    >>> def closure():
    ...     optimizer.zero_grad()
    ...     loss = (w ** 2).sum() / 2
    ...     loss.backward()
    ...     return loss
    >>> for _ in range(2):
    ...     _ = optimizer.step(closure)
    ...     print(w.data)
    tensor([ 0.9000, -1.8000])
    tensor([ 0.8100, -1.6200])
    >>> quadratic_iterates(SGD(lr=0.1))
    tensor([[ 0.9000, -1.8000],
            [ 0.8100, -1.6200]])
    """
    w = torch.nn.Parameter(torch.tensor(w0, dtype=torch.get_default_dtype()))
    optimizer = spec.build([w])

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = (w**2).sum() / 2
        if not spec.needs_graph:  # else the optimizer differentiates the loss itself
            loss.backward()
        return loss

    iterates = []
    for _ in range(steps):
        optimizer.step(closure)
        iterates.append(w.detach().clone())
    return torch.stack(iterates)
