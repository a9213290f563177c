"""Curves of the leave-one-out quantities, drawn in scikit-learn's Display style.

:class:`LOOCurveDisplay` draws the leave-one-out bound, estimate and exact replay of the
candidates of a :class:`~sklearn_iw.LOOBoundSearchCV` against one parameter, or of one
fitted estimator against its epochs. matplotlib is imported only when drawing, and
:mod:`sklearn_iw.model_selection` (which re-exports the display, so a top-level import
would be circular) only where its helpers are used.
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING

import numpy as np
from sklearn.base import clone
from sklearn.utils._optional_dependencies import check_matplotlib_support
from sklearn.utils._plotting import _validate_style_kwargs
from sklearn.utils.validation import check_is_fitted

from ..loo._replay import final_step
from ._search import _BaseLOOBoundSearch

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["LOOCurveDisplay"]

# The leave-one-out columns of a search's cv_results_ that from_search can draw.
LOO_COLUMNS = ("loo_bound", "loo_estimate", "loo_replay")

# Legend label and colour of each known quantity: fixed colours keep a quantity
# recognisable across panels and displays.
_STYLES = {
    "loo_bound": ("LOO bound", "C3"),
    "loo_estimate": ("LOO estimate", "C0"),
    "loo_replay": ("exact LOO (replay)", "C1"),
    "held_out_error": ("held-out error", "C2"),
    "train_loss": ("training loss", "C7"),
    "validation_score": ("validation score", "C4"),
}

# Up to this many points every point gets a marker (candidates, short runs); longer
# curves get them only where a point stands alone between gaps, or it would not show.
_MARKED_POINTS = 30

_MISSING = object()


def _is_numeric(values) -> bool:
    return all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values)


def _infer_x_scale(values) -> str:
    """'log' for positive numbers spanning more than a factor 10, 'linear' for other
    numbers, 'categorical' for anything else."""
    if not _is_numeric(values):
        return "categorical"
    x = np.asarray(values, dtype=np.float64)
    if len(x) and x.min() > 0 and x.max() > 10 * x.min():
        return "log"
    return "linear"


def _needs_markers(y: np.ndarray) -> bool:
    finite = np.isfinite(y)
    beside = np.zeros_like(finite)
    beside[1:] |= finite[:-1]
    beside[:-1] |= finite[1:]
    return len(y) <= _MARKED_POINTS or bool((finite & ~beside).any())


def _without(params: dict, name: str) -> dict:
    return {key: value for key, value in params.items() if key != name}


def _varied_parameter(candidates: list[dict], param_name: str | None) -> str:
    """``param_name`` checked against the search's parameters, or the one parameter
    that varies across the candidates."""
    names = sorted({name for params in candidates for name in params})
    if param_name is not None:
        if param_name not in names:
            raise ValueError(
                f"param_name={param_name!r} is not a parameter of the search's candidates; "
                f"they set {names}."
            )
        return param_name
    first = candidates[0]
    varied = [
        name
        for name in names
        if any(params.get(name, _MISSING) != first.get(name, _MISSING) for params in candidates)
    ]
    if len(varied) != 1:
        found = f"{len(varied)} parameters vary ({varied})" if varied else "no parameter varies"
        raise ValueError(
            f"{found} across the search's candidates: pass param_name, the parameter to "
            f"draw on the x-axis (one of {names})."
        )
    return varied[0]


def _slice_through_best(candidates: list[dict], ranks, param_name: str) -> list[int]:
    """Indices of the candidates that set ``param_name`` and agree on every other
    parameter with the best-ranked of them."""
    having = [i for i, params in enumerate(candidates) if param_name in params]
    reference = _without(candidates[min(having, key=lambda i: ranks[i])], param_name)
    return [i for i in having if _without(candidates[i], param_name) == reference]


def _held_out_error(estimator, params: dict, X, y, X_test, y_test) -> float:
    """Error on ``(X_test, y_test)`` of ``estimator`` with ``params``, trained on
    ``(X, y)``: the error rate of a classifier, the mean squared error of a regressor,
    as the leave-one-out errors count them."""
    model = clone(estimator).set_params(**params).fit(X, y)
    return final_step(model).prediction_error(model.predict(X_test), np.asarray(y_test))


class LOOCurveDisplay:
    """Leave-one-out curves: bound, estimate and exact replay, against a parameter or
    the epochs.

    Build it with :meth:`from_search` (the candidates of a fitted
    :class:`~sklearn_iw.LOOBoundSearchCV` or
    :class:`~sklearn_iw.LOOBoundRandomizedSearchCV` against one parameter) or
    :meth:`from_estimator` (one fitted estimator against its epochs); both draw at
    once. The constructor only stores the data to draw, so that :meth:`plot` can draw
    them again, on other axes or with other styles. All parameters are stored as
    attributes.

    Parameters
    ----------
    x : array-like of shape (n_points,)
        Where the points of every curve lie on the x-axis: the values of the varied
        parameter (numbers, or any values, drawn as categories) or the epochs.
    curves : dict of str to array-like of shape (n_points,)
        The values to draw, by name. 'loo_bound', 'loo_estimate', 'loo_replay',
        'held_out_error', 'train_loss' and 'validation_score' are given readable legend
        labels and a colour each; any other name is its own label and takes the axes'
        next colour. NaN values are left as gaps.
    x_label : str
        Label of the x-axis: the parameter's name or 'epoch'.
    y_label : str, default='Error'
        Label of the y-axis.
    x_scale : {'linear', 'log', 'categorical'} or None, default=None
        How the x-axis is drawn; 'categorical' puts the points at 0, 1, ... labelled by
        the values of ``x``. None infers it: positive numbers spanning more than a
        factor 10 are drawn on a log axis, other numbers on a linear one, anything else
        (strings, tuples, estimators, booleans) as categories.

    Attributes
    ----------
    ax_ : matplotlib Axes
        Axes with the curves.
    figure_ : matplotlib Figure
        Figure containing the curves.
    lines_ : dict of str to matplotlib Line2D
        The line of each curve, by its name in ``curves``.

    See Also
    --------
    sklearn_iw.LOOBoundSearchCV : The search whose candidates :meth:`from_search` draws.
    sklearn.model_selection.ValidationCurveDisplay : Cross-validated scores against a
        parameter.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_iw import IWLogisticRegression, LOOBoundSearchCV
    >>> from sklearn_iw.model_selection import LOOCurveDisplay
    >>> from sklearn_iw.solvers import ImportanceWeights
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = IWLogisticRegression(
    ...     optimizer=ImportanceWeights(), max_iter=10, random_state=0
    ... )
    >>> search = LOOBoundSearchCV(clf, {"optimizer__C": [0.01, 0.1, 1.0]}).fit(X, y)
    >>> display = LOOCurveDisplay.from_search(search)
    >>> sorted(display.lines_), display.ax_.get_xscale()
    (['loo_bound', 'loo_estimate'], 'log')
    >>> display = LOOCurveDisplay.from_estimator(search.best_estimator_)
    >>> sorted(display.lines_)
    ['loo_bound', 'loo_estimate', 'train_loss']
    >>> plt.close("all")
    """

    def __init__(
        self,
        *,
        x,
        curves: dict,
        x_label: str,
        y_label: str = "Error",
        x_scale: str | None = None,
    ):
        self.x = x
        self.curves = curves
        self.x_label = x_label
        self.y_label = y_label
        self.x_scale = x_scale

    def plot(self, ax: Axes | None = None, *, line_kw: dict | None = None) -> LOOCurveDisplay:
        """Draw the curves.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; None creates a new figure and axes.
        line_kw : dict, default=None
            Keyword arguments of matplotlib's ``plot`` for every line; they override
            the defaults (the legend label, the quantity's colour, and round markers on
            curves of at most 30 points or with points that stand alone between gaps).

        Returns
        -------
        display : LOOCurveDisplay
            This object, with ``ax_``, ``figure_`` and ``lines_`` set.
        """
        check_matplotlib_support(f"{type(self).__name__}.plot")
        import matplotlib.pyplot as plt

        values = list(self.x)
        scale = _infer_x_scale(values) if self.x_scale is None else self.x_scale
        if scale not in ("linear", "log", "categorical"):
            raise ValueError(
                f"x_scale must be 'linear', 'log', 'categorical' or None; got {scale!r}."
            )
        if ax is None:
            _, ax = plt.subplots()
        if scale == "categorical":
            positions = np.arange(len(values))
        else:
            positions = np.asarray(values, dtype=np.float64)
        self.lines_ = {}
        for name, curve in self.curves.items():
            y = np.asarray(curve, dtype=np.float64)
            label, color = _STYLES.get(name, (name, None))
            style = {"label": label, "marker": "o" if _needs_markers(y) else None}
            if color is not None:  # other names take the axes' colour cycle
                style["color"] = color
            style = _validate_style_kwargs(style, line_kw or {})
            (self.lines_[name],) = ax.plot(positions, y, **style)
        if scale == "categorical":
            ax.set_xticks(positions, labels=[str(value) for value in values])
        else:
            ax.set_xscale(scale)
        ax.set_xlabel(self.x_label)
        ax.set_ylabel(self.y_label)
        ax.legend()
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_search(
        cls,
        search,
        *,
        param_name: str | None = None,
        quantities: tuple[str, ...] = LOO_COLUMNS,
        X=None,
        y=None,
        X_test=None,
        y_test=None,
        ax: Axes | None = None,
        line_kw: dict | None = None,
    ) -> LOOCurveDisplay:
        """Draw the leave-one-out errors of a search's candidates against a parameter.

        Each quantity of ``quantities`` is read from ``search.cv_results_``; one that
        is NaN for every drawn candidate (``loo_replay`` unless ``criterion='replay'``
        or the estimate's fallback computed it) is left out, and single NaN values are
        gaps. Where several parameters vary, the curve is a slice through the search:
        the candidates that agree on every other parameter with the best-ranked one (in
        a randomized search over several parameters that may be the best candidate
        alone).

        The search keeps only its best model, so the held-out error of each candidate
        needs a fit of its own: with ``X_test`` and ``y_test``, pass the search's
        training data ``X`` and ``y`` too, and every drawn candidate is trained again,
        ``clone(search.estimator).set_params(**params).fit(X, y)`` (without the fit
        parameters the search was given), and its error on ``(X_test, y_test)`` is
        drawn as 'held_out_error': the error rate of a classifier, the mean squared
        error of a regressor, as the leave-one-out errors count them.

        Parameters
        ----------
        search : LOOBoundSearchCV or LOOBoundRandomizedSearchCV
            A fitted search.
        param_name : str, default=None
            The parameter on the x-axis, as the search's candidates name it (e.g.
            ``'optimizer__p'``). None takes the only parameter that varies across the
            candidates; it is required where several vary.
        quantities : tuple of str, default=('loo_bound', 'loo_estimate', 'loo_replay')
            The leave-one-out columns of ``cv_results_`` to draw.
        X : array-like of shape (n_samples, n_features), default=None
            The search's training data, to train each candidate again for the held-out
            error; only with ``X_test``.
        y : array-like of shape (n_samples,), default=None
            Targets of ``X``.
        X_test : array-like of shape (n_test, n_features), default=None
            Held-out data on which each candidate's error is measured.
        y_test : array-like of shape (n_test,), default=None
            Targets of ``X_test``.
        ax : matplotlib Axes, default=None
            Axes to draw on, passed to :meth:`plot`.
        line_kw : dict, default=None
            Style of every line, passed to :meth:`plot`.

        Returns
        -------
        display : LOOCurveDisplay
            The drawn display; ``x`` holds the parameter's values (sorted where they
            are numbers) and ``curves`` the drawn quantities.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the search is not fitted.
        TypeError
            If ``search`` is not one of this package's leave-one-out searches.
        ValueError
            If ``param_name`` is needed but missing or not a parameter of the search, a
            quantity is unknown, or only some of ``X``, ``y``, ``X_test``, ``y_test``
            are given.
        """
        check_matplotlib_support(f"{cls.__name__}.from_search")
        if not isinstance(search, _BaseLOOBoundSearch):
            raise TypeError(
                f"from_search draws a LOOBoundSearchCV or LOOBoundRandomizedSearchCV; got "
                f"{type(search).__name__}."
            )
        check_is_fitted(search)
        unknown = sorted(set(quantities) - set(LOO_COLUMNS))
        if unknown:
            raise ValueError(f"Unknown quantities {unknown}; choose among {list(LOO_COLUMNS)}.")
        given = [data is not None for data in (X, y, X_test, y_test)]
        if any(given) and not all(given):
            raise ValueError(
                "The held-out error needs X_test and y_test, and X and y to train each "
                "candidate again (the search keeps only its best model): pass all four."
            )

        results = search.cv_results_
        candidates = results["params"]
        param_name = _varied_parameter(candidates, param_name)
        index = _slice_through_best(candidates, results["rank_test_score"], param_name)
        values = [candidates[i][param_name] for i in index]
        if _is_numeric(values):
            order = np.argsort(np.asarray(values, dtype=np.float64), kind="stable")
            index = [index[i] for i in order]
            values = [values[i] for i in order]

        curves = {}
        for quantity in quantities:
            column = np.asarray(results[quantity], dtype=np.float64)[index]
            if not np.isnan(column).all():
                curves[quantity] = column
        if all(given):
            curves["held_out_error"] = np.array(
                [
                    _held_out_error(search.estimator, candidates[i], X, y, X_test, y_test)
                    for i in index
                ]
            )
        display = cls(x=values, curves=curves, x_label=param_name)
        return display.plot(ax=ax, line_kw=line_kw)

    @classmethod
    def from_estimator(
        cls, estimator, *, ax: Axes | None = None, line_kw: dict | None = None
    ) -> LOOCurveDisplay:
        """Draw what a fitted estimator recorded per epoch.

        The estimators of this package record per epoch the training loss
        (``loss_curve_``), with importance weights the leave-one-out bound
        (``loo_bound_curve_``) and with ``early_stopping`` the validation score
        (``validation_scores_``): all three are drawn where recorded, the bound only
        where it holds (``loo_reason_['bound']`` is None). The estimate and the exact
        replay are not recorded per epoch: the estimate of the final model
        (``loo_estimate_``, where available) is drawn as one point at the last epoch.

        Parameters
        ----------
        estimator : estimator
            A fitted estimator with a ``loss_curve_`` (this package's, or a
            :class:`~sklearn.pipeline.Pipeline` ending in one).
        ax : matplotlib Axes, default=None
            Axes to draw on, passed to :meth:`plot`.
        line_kw : dict, default=None
            Style of every line, passed to :meth:`plot`.

        Returns
        -------
        display : LOOCurveDisplay
            The drawn display; ``x`` holds the epochs (from 1) and ``curves`` the
            drawn quantities: 'loo_bound', 'loo_estimate' (NaN but at the last epoch),
            'train_loss', 'validation_score'.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        TypeError
            If the (last step of the) estimator records no ``loss_curve_``.
        """
        check_matplotlib_support(f"{cls.__name__}.from_estimator")
        final = final_step(estimator)
        check_is_fitted(final)
        if not hasattr(final, "loss_curve_"):
            raise TypeError(
                f"{type(final).__name__} records no loss_curve_: from_estimator draws "
                "the per-epoch records of this package's estimators."
            )
        n_epochs = len(final.loss_curve_)
        reasons = getattr(final, "loo_reason_", None)
        holds = {q: reasons is not None and reasons[q] is None for q in ("bound", "estimate")}
        curves = {}
        bound_curve = getattr(final, "loo_bound_curve_", None)
        if bound_curve and holds["bound"]:
            curves["loo_bound"] = np.asarray(bound_curve, dtype=np.float64)
        if n_epochs and holds["estimate"]:
            estimate = np.full(n_epochs, np.nan)
            # NaN, with the estimator's warning, where its computation fails now.
            estimate[-1] = final.loo_estimate_
            if not np.isnan(estimate[-1]):
                curves["loo_estimate"] = estimate
        curves["train_loss"] = np.asarray(final.loss_curve_, dtype=np.float64)
        validation = getattr(final, "validation_scores_", None)
        if validation is not None:
            curves["validation_score"] = np.asarray(validation, dtype=np.float64)

        kinds = ["leave-one-out error"] if "loo_bound" in curves or "loo_estimate" in curves else []
        kinds += ["training loss"] + (["validation score"] if validation is not None else [])
        label = ", ".join(kinds)
        display = cls(
            x=np.arange(1, n_epochs + 1),
            curves=curves,
            x_label="epoch",
            y_label=label[0].upper() + label[1:],
            x_scale="linear",
        )
        return display.plot(ax=ax, line_kw=line_kw)
