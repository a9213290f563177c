"""Turning an estimator's name-or-spec parameter into a fresh spec object."""

from __future__ import annotations

from typing import TypeVar

from sklearn.base import BaseEstimator, clone

Spec = TypeVar("Spec", bound=BaseEstimator)


def resolve_spec(
    value: str | Spec, registry: dict[str, type[Spec]], base: type[Spec], parameter: str
) -> Spec:
    """Return a fresh spec for ``value``: a clone of a spec instance, or the named default.

    Parameters
    ----------
    value : str or spec instance
        The estimator parameter (never modified).
    registry : dict
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
