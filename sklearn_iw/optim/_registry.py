"""The registries of optimizer and schedule specs by name, and the text made from them.

The estimators' ``optimizer`` and ``lr_schedule`` parameters accept the names of
:data:`OPTIMIZERS` and :data:`SCHEDULES`. Docstrings and pages that list the names or
describe the optimizers take them from here (:func:`quoted_names`,
:func:`optimizer_table`), so a spec added to the list below (a schedule: to
``SCHEDULE_SPECS`` beside the schedules) appears everywhere.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from typing import TypeVar

from sklearn.base import BaseEstimator, clone

from ._schedules import SCHEDULE_SPECS, ScheduleSpec
from ._spec import OptimizerSpec
from .iw._importance_weights import ImportanceWeights
from .rules.adadelta import Adadelta
from .rules.adagrad import Adagrad
from .rules.adam import Adam
from .rules.bfgs import BFGS
from .rules.cg import CG
from .rules.delta_bar_delta import DeltaBarDelta
from .rules.delta_delta import DeltaDelta
from .rules.lbfgs import LBFGS
from .rules.momentum import Momentum
from .rules.nesterov import Nesterov
from .rules.newton import Newton
from .rules.quickprop import Quickprop
from .rules.rmsprop import RMSprop
from .rules.rprop import Rprop
from .rules.sgd import GD, SGD

Spec = TypeVar("Spec", bound=BaseEstimator)


def _by_name(classes: Iterable[type[Spec]]) -> dict[str, type[Spec]]:
    """Return ``{cls.name: cls}`` in the order of ``classes``."""
    return {cls.name: cls for cls in classes}


OPTIMIZERS: dict[str, type[OptimizerSpec]] = _by_name(
    [
        GD,
        SGD,
        Momentum,
        Nesterov,
        Adagrad,
        RMSprop,
        Adadelta,
        Adam,
        Rprop,
        Quickprop,
        DeltaDelta,
        DeltaBarDelta,
        CG,
        BFGS,
        LBFGS,
        Newton,
        ImportanceWeights,
    ]
)
SCHEDULES: dict[str, type[ScheduleSpec]] = _by_name(SCHEDULE_SPECS)


def resolve_spec(
    value: str | Spec, registry: Mapping[str, type[Spec]], base: type[Spec], parameter: str
) -> Spec:
    """Return a fresh spec for ``value``: a clone of a spec instance, or the named default.

    Parameters
    ----------
    value : str or spec instance
        The estimator parameter (never modified).
    registry : mapping of str to type
        Names to spec classes.
    base : type
        The spec base class instances must derive from.
    parameter : str
        The parameter's name, for the error message.

    Returns
    -------
    spec : spec instance
    """
    if isinstance(value, base):
        return clone(value)
    if isinstance(value, str) and value in registry:
        return registry[value]()
    raise ValueError(
        f"{parameter} must be one of {sorted(registry)} or an instance of {base.__name__}, "
        f"got {value!r}."
    )


def resolve_optimizer(optimizer: str | OptimizerSpec) -> OptimizerSpec:
    """Turn the ``optimizer`` parameter of an estimator into a fresh spec.

    Parameters
    ----------
    optimizer : str or OptimizerSpec
        A name from ``OPTIMIZERS`` or a spec instance (cloned, never modified).

    Returns
    -------
    spec : OptimizerSpec

    Examples
    --------
    >>> from sklearn_iw.solvers import Adam, resolve_optimizer
    >>> resolve_optimizer("rprop")
    Rprop()
    >>> spec = Adam(lr=0.01)
    >>> resolved = resolve_optimizer(spec)
    >>> resolved, resolved is spec
    (Adam(lr=0.01), False)
    """
    return resolve_spec(optimizer, OPTIMIZERS, OptimizerSpec, "optimizer")


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


def quoted_names(registry: Mapping[str, type]) -> str:
    """Return the names of ``registry``, quoted and comma-separated, in registry order.

    For docstrings that list the accepted values of a parameter.

    Parameters
    ----------
    registry : mapping of str to type
        :data:`OPTIMIZERS` or :data:`SCHEDULES`.

    Returns
    -------
    names : str

    Examples
    --------
    >>> from sklearn_iw.solvers import SCHEDULES, quoted_names
    >>> print(quoted_names(SCHEDULES))
    'constant', 'exponential', 'inverse_time', 'inverse_sqrt', 'linear', 'cosine',
    'cosine_restarts', 'one_cycle', 'plateau'
    """
    return ", ".join(repr(name) for name in registry)


def optimizer_table() -> str:
    """Return the Markdown (MyST) table of the optimizers that docs/optimizers.md shows.

    One row per optimizer: its name, spec class, hyperparameters with their defaults,
    batches (full, minibatch or keyed minibatch) and what computes the rule (the
    ``torch.optim`` class, or the hand-written optimizer class and the library functions
    it calls).

    Returns
    -------
    table : str
        The table's lines, each ending with a newline.

    Examples
    --------
    >>> from sklearn_iw.solvers import optimizer_table
    >>> print(optimizer_table().splitlines()[3])
    | `sgd` | {class}`~sklearn_iw.solvers.SGD` | lr=0.1 | minibatch | `torch.optim.SGD` |
    """
    rows = [
        "| name | spec | hyperparameters (defaults) | batch | computed by |",
        "|---|---|---|---|---|",
    ]
    for name, spec in OPTIMIZERS.items():
        defaults = ", ".join(
            f"{key}={parameter.default!r}"
            for key, parameter in inspect.signature(spec).parameters.items()
        )
        if spec.full_batch:
            batch = "full"
        else:
            batch = "minibatch, keyed" if spec.keyed_batches else "minibatch"
        computed_by = " + ".join(
            f"hand-written ({_class_role(spec.optimizer_class)})"
            if part == "hand-written"
            else f"`{part}`"
            for part in spec.computed_by.split(" + ")
        )
        rows.append(f"| `{name}` | {_class_role(spec)} | {defaults} | {batch} | {computed_by} |")
    return "".join(row + "\n" for row in rows)


def _class_role(cls: type) -> str:
    """Return the MyST cross-reference to ``cls``, a public name of ``sklearn_iw.solvers``."""
    return f"{{class}}`~sklearn_iw.solvers.{cls.__name__}`"
