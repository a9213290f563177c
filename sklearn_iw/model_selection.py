"""Model selection by the leave-one-out bound of importance weights: one fit per candidate.

A model trained by importance weights knows an upper bound of its own leave-one-out
error, ``loo_bound_`` (see ``docs/importance_weights.md``). :class:`LOOBoundSearchCV` and
:class:`LOOBoundRandomizedSearchCV` fit every candidate once on all the data and rank the
candidates by that bound, where :class:`~sklearn.model_selection.GridSearchCV` needs k
fits per candidate plus a refit. :func:`loo_bound_scorer` brings the bound into
scikit-learn's own search classes as a scorer.
"""

from __future__ import annotations

import numbers
import time
import traceback
import warnings
from abc import ABCMeta, abstractmethod
from copy import deepcopy

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, _fit_context, clone
from sklearn.model_selection import ParameterGrid, ParameterSampler

# scikit-learn's own helpers of its searches: the param_<name> columns and the messages
# about failed fits, as GridSearchCV gives them.
from sklearn.model_selection._search import _yield_masked_array_for_each_param
from sklearn.model_selection._validation import _warn_or_raise_about_fit_failures
from sklearn.pipeline import Pipeline
from sklearn.utils import get_tags, indexable
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import check_is_fitted

__all__ = ["LOOBoundRandomizedSearchCV", "LOOBoundSearchCV", "loo_bound_scorer"]


def _final_step(estimator):
    """The estimator that holds ``loo_bound_``: the last step of (nested) pipelines."""
    while isinstance(estimator, Pipeline):
        estimator = estimator[-1]
    return estimator


def _read_loo_bound(estimator) -> tuple[float, str | None]:
    """``(loo_bound_, None)`` of a fitted estimator, or ``(nan, reason)`` where it has none."""
    final = _final_step(estimator)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            bound = float(final.loo_bound_)
        except AttributeError:
            return np.nan, (
                f"{type(final).__name__} has no loo_bound_: only estimators trained by "
                "importance weights (sklearn_iw's IW* classifiers) have one."
            )
    if np.isnan(bound):
        reasons = [
            str(w.message).removeprefix("loo_bound_ is NaN: ")
            for w in caught
            if issubclass(w.category, UserWarning)
        ]
        return np.nan, " ".join(reasons) or "the estimator gives no reason."
    return bound, None


def loo_bound_scorer(estimator, X=None, y=None):
    """Score a fitted estimator by its leave-one-out bound: ``1 - loo_bound_``.

    A scorer with scikit-learn's ``scorer(estimator, X, y)`` signature, greater is
    better, so that the bound can drive :class:`~sklearn.model_selection.GridSearchCV`
    or :func:`~sklearn.model_selection.cross_validate`, alone or in a dict of scorers.
    The score is a lower bound of the estimator's leave-one-out accuracy *on its own
    training set*: ``X`` and ``y`` are ignored, so inside a cross-validation each split
    reports the bound of the model trained on that split's training part.
    :class:`LOOBoundSearchCV` gets the same ranking from a single fit per candidate.

    Parameters
    ----------
    estimator : estimator
        A fitted importance-weights classifier (``IWLogisticRegression``,
        ``IWMLPClassifier``, ...) or a :class:`~sklearn.pipeline.Pipeline` whose last
        step is one; the bound is read from that last step.
    X : object, default=None
        Ignored.
    y : object, default=None
        Ignored.

    Returns
    -------
    score : float
        ``1 - loo_bound_`` in [0, 1]; NaN, with the estimator's warning saying why,
        where the bound does not hold (another optimizer, dropout, early stopping, ...).

    Raises
    ------
    TypeError
        If the (last step of the) estimator has no ``loo_bound_``.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.model_selection import GridSearchCV
    >>> from sklearn_iw import IWLogisticRegression, loo_bound_scorer
    >>> from sklearn_iw.solvers import ImportanceWeights
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = IWLogisticRegression(
    ...     optimizer=ImportanceWeights(p=0.02), max_iter=10, random_state=0
    ... ).fit(X, y)
    >>> 0.0 <= loo_bound_scorer(clf, X, y) <= 1.0
    True
    >>> search = GridSearchCV(
    ...     clf, {"optimizer__C": [0.1, 1.0]}, cv=3,
    ...     scoring={"loo": loo_bound_scorer, "accuracy": "accuracy"}, refit="loo",
    ... ).fit(X, y)
    >>> sorted(k for k in search.cv_results_ if k.startswith("mean_test"))
    ['mean_test_accuracy', 'mean_test_loo']
    """
    final = _final_step(estimator)
    if not hasattr(type(final), "loo_bound_") and not hasattr(final, "loo_bound_"):
        raise TypeError(
            f"loo_bound_scorer needs an estimator trained by importance weights (or a "
            f"Pipeline ending in one); {type(final).__name__} has no loo_bound_."
        )
    return 1.0 - float(final.loo_bound_)


def _format_params(params: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in params.items()) or "(default parameters)"


def _fit_candidate(
    base_estimator, X, y, parameters, fit_params, *, error_score, keep, verbose, progress
):
    """Fit one candidate on all the data; read its bound and its training score."""
    # As scikit-learn's _fit_and_score: an invalid parameter name raises, whatever
    # error_score says, because it is a mistake in the grid rather than a failed fit.
    estimator = clone(base_estimator).set_params(**clone(parameters, safe=False))
    result = {
        "estimator": None,
        "loo_bound": np.nan,
        "n_support": np.nan,
        "train_score": error_score,
        "fit_time": 0.0,
        "score_time": 0.0,
        "fit_error": None,
    }
    start = time.perf_counter()
    try:
        estimator.fit(X, y, **fit_params)
    except Exception:
        if error_score == "raise":
            raise
        result["fit_time"] = time.perf_counter() - start
        result["fit_error"] = traceback.format_exc()
        return result
    result["fit_time"] = time.perf_counter() - start

    bound, reason = _read_loo_bound(estimator)
    if reason is not None:
        raise ValueError(
            f"The leave-one-out bound of candidate {progress[0] + 1}/{progress[1]} "
            f"({_format_params(parameters)}) is NaN, so the candidates cannot be ranked "
            f"by it: {reason} Search only over importance-weights settings where the "
            "bound holds, or use GridSearchCV."
        )
    result["loo_bound"] = bound
    support = getattr(_final_step(estimator), "support_", None)
    if support is not None:
        result["n_support"] = len(support)

    start = time.perf_counter()
    try:
        result["train_score"] = estimator.score(X, y)
    except Exception:
        if error_score == "raise":
            raise
        result["fit_error"] = traceback.format_exc()
        result["loo_bound"] = np.nan
        return result
    finally:
        result["score_time"] = time.perf_counter() - start
    if keep:
        result["estimator"] = estimator
    if verbose > 1:
        print(
            f"[LOO {progress[0] + 1}/{progress[1]}] END {_format_params(parameters)}; "
            f"loo_bound={bound:.3f}; train_score={result['train_score']:.3f}; "
            f"total time={result['fit_time'] + result['score_time']:.1f}s"
        )
    return result


def _rank(test_scores, train_scores) -> np.ndarray:
    """Ranks by test score, ties broken by train score (higher is better, NaN last);
    candidates equal in both share the smallest rank, as ``rankdata(method='min')``."""
    keys = np.column_stack([-test_scores, -train_scores])
    keys[np.isnan(keys)] = np.inf
    # Unique rows come sorted lexicographically: a row's rank is 1 + the rows before it.
    _, group, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    return (np.cumsum(counts) - counts + 1)[group.ravel()].astype(np.int32)


def _refit_message(search, attr: str) -> None:
    if not search.refit:
        raise AttributeError(
            f"This {type(search).__name__} instance was initialized with `refit=False`. "
            f"{attr} is available only when the best candidate's model is kept "
            "(refit=True). You can fit an estimator manually using the `best_params_` "
            "attribute."
        )


def _search_estimator_has(attr: str):
    """Delegate ``attr`` to the best estimator (to the unfitted one before ``fit``)."""

    def check(self):
        _refit_message(self, attr)
        if hasattr(self, "best_estimator_"):
            getattr(self.best_estimator_, attr)
        else:
            getattr(self.estimator, attr)
        return True

    return check


class _BaseLOOBoundSearch(MetaEstimatorMixin, BaseEstimator, metaclass=ABCMeta):
    """Shared machinery of the two searches: fit each candidate once, rank by the bound."""

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit"])],
        "n_jobs": [numbers.Integral, None],
        "refit": ["boolean"],
        "verbose": ["verbose"],
        "error_score": [StrOptions({"raise"}), numbers.Real],
    }

    @abstractmethod
    def __init__(self, estimator, *, n_jobs=None, refit=True, verbose=0, error_score=np.nan):
        self.estimator = estimator
        self.n_jobs = n_jobs
        self.refit = refit
        self.verbose = verbose
        self.error_score = error_score

    @abstractmethod
    def _candidate_params(self) -> list[dict]:
        """The parameter settings to evaluate, in order."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        sub = get_tags(self.estimator)
        tags.estimator_type = sub.estimator_type
        tags.classifier_tags = deepcopy(sub.classifier_tags)
        tags.regressor_tags = deepcopy(sub.regressor_tags)
        tags.input_tags.sparse = sub.input_tags.sparse
        tags.input_tags.pairwise = sub.input_tags.pairwise
        return tags

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, **fit_params):
        """Fit every candidate once on all the data and rank them by ``loo_bound_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Target values.
        **fit_params : dict of str -> object
            Passed to every candidate's ``fit`` unchanged (for example
            ``sample_weight``, or ``clf__sample_weight`` for a Pipeline); nothing is
            split since every candidate sees all the data.

        Returns
        -------
        self : object
            The fitted search.
        """
        X, y = indexable(X, y)
        candidate_params = list(self._candidate_params())
        n_candidates = len(candidate_params)
        if n_candidates == 0:
            raise ValueError("No fits were performed. Were there no candidates?")
        if self.verbose > 0:
            print(
                f"Fitting 1 model for each of {n_candidates} candidates, "
                f"totalling {n_candidates} fits"
            )

        base_estimator = clone(self.estimator)
        out = Parallel(n_jobs=self.n_jobs)(
            delayed(_fit_candidate)(
                base_estimator,
                X,
                y,
                parameters,
                fit_params,
                error_score=self.error_score,
                keep=bool(self.refit),
                verbose=self.verbose,
                progress=(index, n_candidates),
            )
            for index, parameters in enumerate(candidate_params)
        )
        _warn_or_raise_about_fit_failures(out, self.error_score)

        failed = np.array([r["fit_error"] is not None for r in out])
        bounds = np.array([r["loo_bound"] for r in out], dtype=np.float64)
        # error_score='raise' leaves no failed candidate here.
        error_value = np.nan if self.error_score == "raise" else float(self.error_score)
        test_scores = np.where(failed, error_value, 1.0 - bounds)
        train_scores = np.array([r["train_score"] for r in out], dtype=np.float64)

        results = {
            "mean_fit_time": np.array([r["fit_time"] for r in out]),
            "mean_score_time": np.array([r["score_time"] for r in out]),
        }
        for key, masked in _yield_masked_array_for_each_param(candidate_params):
            results[key] = masked
        results["params"] = candidate_params
        results["loo_bound"] = bounds
        results["n_support"] = np.array([r["n_support"] for r in out], dtype=np.float64)
        results["mean_test_score"] = test_scores
        results["rank_test_score"] = _rank(test_scores, train_scores)
        results["train_score"] = train_scores
        self.cv_results_ = results
        self.n_candidates_ = n_candidates

        self.best_index_ = int(np.flatnonzero(results["rank_test_score"] == 1)[0])
        self.best_params_ = candidate_params[self.best_index_]
        self.best_score_ = float(test_scores[self.best_index_])
        self.best_loo_bound_ = float(bounds[self.best_index_])
        self.multimetric_ = False
        if self.refit:
            # Every candidate was trained on all the data: the best one is kept as it is.
            self.best_estimator_ = out[self.best_index_]["estimator"]
            self.refit_time_ = 0.0
            if hasattr(self.best_estimator_, "feature_names_in_"):
                self.feature_names_in_ = self.best_estimator_.feature_names_in_
        return self

    # ------------------------------------------------------------ delegation
    def score(self, X, y=None, **params):
        """Score of the best estimator on the given data (its ``score`` method).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs), default=None
            True labels of ``X``.
        **params : dict
            Passed to the best estimator's ``score`` (for example ``sample_weight``).

        Returns
        -------
        score : float
            ``best_estimator_.score(X, y, **params)`` (mean accuracy for classifiers).
        """
        _refit_message(self, "score")
        check_is_fitted(self)
        return self.best_estimator_.score(X, y, **params)

    @available_if(_search_estimator_has("predict"))
    def predict(self, X):
        """Predict with the best estimator.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Labels predicted by ``best_estimator_``.
        """
        check_is_fitted(self)
        return self.best_estimator_.predict(X)

    @available_if(_search_estimator_has("predict_proba"))
    def predict_proba(self, X):
        """Class probabilities from the best estimator.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            ``best_estimator_.predict_proba(X)``.
        """
        check_is_fitted(self)
        return self.best_estimator_.predict_proba(X)

    @available_if(_search_estimator_has("predict_log_proba"))
    def predict_log_proba(self, X):
        """Class log-probabilities from the best estimator.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            ``best_estimator_.predict_log_proba(X)``.
        """
        check_is_fitted(self)
        return self.best_estimator_.predict_log_proba(X)

    @available_if(_search_estimator_has("decision_function"))
    def decision_function(self, X):
        """Decision function of the best estimator.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            ``best_estimator_.decision_function(X)``.
        """
        check_is_fitted(self)
        return self.best_estimator_.decision_function(X)

    @property
    def classes_(self):
        """Class labels of the best estimator (only with ``refit=True``)."""
        _search_estimator_has("classes_")(self)
        return self.best_estimator_.classes_

    @property
    def n_features_in_(self):
        """Number of features seen during fit (only with ``refit=True``)."""
        try:
            check_is_fitted(self)
        except Exception as exc:
            raise AttributeError(
                f"{type(self).__name__} object has no n_features_in_ attribute."
            ) from exc
        return self.best_estimator_.n_features_in_

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "cv_results_")


_COMMON_PARAMETERS = """\
    n_jobs : int, default=None
        Number of candidates fitted in parallel by joblib. ``None`` means 1 unless in a
        :func:`joblib.parallel_backend` context (``'loky'``, ``'dask'``, ``'ray'``, ...:
        candidates are distributed as such a backend distributes tasks); ``-1`` uses all
        processors.
    refit : bool, default=True
        Keep the best candidate's fitted model as ``best_estimator_`` and delegate
        ``predict``, ``predict_proba``, ``decision_function``, ``score`` and ``classes_``
        to it. Every candidate is already trained on all the data, so there is **no
        second fit**: the model is kept as it is (``refit_time_`` is 0). With
        ``refit=False`` the other candidates' models are dropped as they finish and
        only ``best_params_``, ``best_index_`` and ``best_score_`` are set.
    verbose : int, default=0
        Verbosity: >0 prints the number of fits, >1 one line per candidate.
    error_score : 'raise' or numeric, default=np.nan
        Score given to a candidate whose ``fit`` (or training score) raises: 'raise'
        re-raises the error; a number is stored as its ``mean_test_score`` and
        ``train_score`` (its ``loo_bound`` is NaN) with a ``FitFailedWarning``, as in
        :class:`~sklearn.model_selection.GridSearchCV`. This does not cover a candidate
        that fits but whose bound is NaN: that is a ValueError naming the candidate and
        the reason, since such a candidate cannot be ranked.
"""

_COMMON_ATTRIBUTES = """\
    cv_results_ : dict of numpy (masked) ndarrays
        One entry per candidate, importable into a pandas DataFrame:
        ``mean_fit_time`` and ``mean_score_time`` (seconds of its single fit and of
        its training score), ``param_<name>`` (masked arrays), ``params`` (list of
        dicts), ``loo_bound``, ``n_support`` (samples ever active, ``len(support_)``),
        ``mean_test_score`` (``1 - loo_bound``, a lower bound of the leave-one-out
        accuracy; ``error_score`` for failed candidates), ``rank_test_score`` (by
        ``mean_test_score``, ties broken by ``train_score``; candidates equal in both
        share a rank) and ``train_score`` (the fitted candidate's ``score`` on the
        training data).
    best_estimator_ : estimator
        The best candidate's model, trained on all the data (only with
        ``refit=True``).
    best_index_ : int
        Index of the best candidate in ``cv_results_``: the smallest bound, then the
        highest training score, then the first in order.
    best_params_ : dict
        Parameter setting of the best candidate.
    best_score_ : float
        ``1 - loo_bound_`` of the best candidate.
    best_loo_bound_ : float
        ``loo_bound_`` of the best candidate.
    n_candidates_ : int
        Number of candidates fitted.
    refit_time_ : float
        Always 0.0 (with ``refit=True``): the best model is not fitted again.
    multimetric_ : bool
        Always False: candidates are ranked by the bound alone.
    classes_ : ndarray of shape (n_classes,)
        Class labels of ``best_estimator_``.
    n_features_in_ : int
        Number of features seen during fit (with ``refit=True``).
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Feature names seen during fit, when ``best_estimator_`` has them.
"""

_NOTES = """\
    The bound holds for importance-weights training only (``optimizer=
    'importance_weights'`` or an ``ImportanceWeights`` spec) and only in settings that
    keep it exact (no dropout, no ``early_stopping``, ...); a candidate whose bound is
    NaN stops the search with a ValueError. It is an upper bound of the leave-one-out
    error, usually loose: use it to rank candidates, not as an error estimate. It counts
    every sample that was ever active plus the training errors among the others, so it
    discriminates when most samples stay inactive:

    - small margins (``optimizer__p`` around 0.005-0.1; with larger ``p``, and with
      small ``C``, most samples become active and the bound nears 1);
    - large batches (``batch_size='full'`` where affordable: with minibatches each
      sample meets many batch contexts and is likelier to be active in one);
    - a fixed number of epochs (``n_iter_no_change >= max_iter``): when the loss-based
      stopping rule fires, every sample whose removal could move the stopping epoch
      counts as an error.

    Among candidates that all fit the training set, the bound prefers the one that
    needed the fewest active samples, which can be a slightly less trained model than
    cross-validation's choice (``benchmarks/README.md`` compares both).

    In a :class:`~sklearn.pipeline.Pipeline` the bound is read from the last step and
    holds for that step trained on the transformed data; preprocessing fitted on the
    data (a scaler, say) is not re-fitted without each sample, so for the whole
    pipeline the bound is approximate.
"""


class LOOBoundSearchCV(_BaseLOOBoundSearch):
    """Exhaustive search ranked by the leave-one-out bound, one fit per candidate.

    Fits every parameter setting of ``param_grid`` once, on all the data, and ranks the
    fitted models by ``loo_bound_``, the leave-one-out error bound that
    importance-weights training computes for free. Compared with
    :class:`~sklearn.model_selection.GridSearchCV` (k fits per candidate and a refit),
    selection costs one fit per candidate, and the chosen model is the one already
    trained on all the data.

    Parameters
    ----------
    estimator : estimator object
        An importance-weights classifier (``IWLogisticRegression(optimizer=
        ImportanceWeights(...))``, ``IWMLPClassifier``, ...) or a
        :class:`~sklearn.pipeline.Pipeline` whose last step is one (then parameter
        names carry the step prefix, e.g. ``clf__optimizer__C``).
    param_grid : dict or list of dicts
        Dictionary with parameter names (str) as keys and lists of values to try, or a
        list of such dictionaries, as for :class:`~sklearn.model_selection.ParameterGrid`.
        Pass ``optimizer=ImportanceWeights(...)`` to the estimator to tune
        ``optimizer__p`` and ``optimizer__C``.
    {common_parameters}

    Attributes
    ----------
    {common_attributes}

    See Also
    --------
    LOOBoundRandomizedSearchCV : The same ranking over sampled candidates.
    loo_bound_scorer : The bound as a scorer for scikit-learn's search classes.
    sklearn.model_selection.GridSearchCV : Search by k-fold cross-validation.

    Notes
    -----
    {notes}

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_iw import IWLogisticRegression, LOOBoundSearchCV
    >>> from sklearn_iw.solvers import ImportanceWeights
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = IWLogisticRegression(
    ...     optimizer=ImportanceWeights(), max_iter=10, random_state=0
    ... )
    >>> search = LOOBoundSearchCV(
    ...     clf, {{"optimizer__p": [0.01, 0.05], "optimizer__C": [0.1, 1.0]}}
    ... ).fit(X, y)
    >>> search.n_candidates_
    4
    >>> bounds = search.cv_results_["loo_bound"]
    >>> bool(search.best_score_ == 1 - bounds.min())
    True
    >>> sorted(search.best_params_)
    ['optimizer__C', 'optimizer__p']
    >>> search.predict(X[:3])
    array([0, 0, 0])
    """

    _parameter_constraints: dict = {
        **_BaseLOOBoundSearch._parameter_constraints,
        "param_grid": [dict, list],
    }

    def __init__(
        self,
        estimator,
        param_grid,
        *,
        n_jobs=None,
        refit=True,
        verbose=0,
        error_score=np.nan,
    ):
        super().__init__(
            estimator, n_jobs=n_jobs, refit=refit, verbose=verbose, error_score=error_score
        )
        self.param_grid = param_grid

    def _candidate_params(self) -> list[dict]:
        return list(ParameterGrid(self.param_grid))


class LOOBoundRandomizedSearchCV(_BaseLOOBoundSearch):
    """Randomized search ranked by the leave-one-out bound, one fit per candidate.

    Samples ``n_iter`` parameter settings from ``param_distributions`` (as
    :class:`~sklearn.model_selection.RandomizedSearchCV` does, through
    :class:`~sklearn.model_selection.ParameterSampler`), fits each once on all the
    data and ranks the fitted models by ``loo_bound_``.

    Parameters
    ----------
    estimator : estimator object
        An importance-weights classifier or a :class:`~sklearn.pipeline.Pipeline`
        whose last step is one.
    param_distributions : dict or list of dicts
        Parameter names (str) mapped to distributions (with an ``rvs`` method, such as
        ``scipy.stats.loguniform(1e-3, 1e-1)``) or lists of values, sampled uniformly;
        a list of dicts picks a dict uniformly first. If all values are lists, settings
        are sampled without replacement.
    n_iter : int, default=10
        Number of parameter settings sampled.
    random_state : int, RandomState instance or None, default=None
        Seed of the sampling, for reproducible candidates.
    {common_parameters}

    Attributes
    ----------
    {common_attributes}

    See Also
    --------
    LOOBoundSearchCV : The same ranking over a full grid.
    sklearn.model_selection.RandomizedSearchCV : Search by k-fold cross-validation.

    Notes
    -----
    {notes}

    Examples
    --------
    >>> from scipy.stats import loguniform
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_iw import IWLogisticRegression, LOOBoundRandomizedSearchCV
    >>> from sklearn_iw.solvers import ImportanceWeights
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = IWLogisticRegression(
    ...     optimizer=ImportanceWeights(), max_iter=10, random_state=0
    ... )
    >>> search = LOOBoundRandomizedSearchCV(
    ...     clf, {{"optimizer__p": loguniform(0.005, 0.05)}}, n_iter=3, random_state=0
    ... ).fit(X, y)
    >>> len(search.cv_results_["params"])
    3
    >>> int(search.cv_results_["rank_test_score"][search.best_index_])
    1
    """

    _parameter_constraints: dict = {
        **_BaseLOOBoundSearch._parameter_constraints,
        "param_distributions": [dict, list],
        "n_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        estimator,
        param_distributions,
        *,
        n_iter=10,
        random_state=None,
        n_jobs=None,
        refit=True,
        verbose=0,
        error_score=np.nan,
    ):
        super().__init__(
            estimator, n_jobs=n_jobs, refit=refit, verbose=verbose, error_score=error_score
        )
        self.param_distributions = param_distributions
        self.n_iter = n_iter
        self.random_state = random_state

    def _candidate_params(self) -> list[dict]:
        return list(
            ParameterSampler(self.param_distributions, self.n_iter, random_state=self.random_state)
        )


for _cls in (LOOBoundSearchCV, LOOBoundRandomizedSearchCV):
    _cls.__doc__ = _cls.__doc__.format(
        common_parameters=_COMMON_PARAMETERS.strip(),
        common_attributes=_COMMON_ATTRIBUTES.strip(),
        notes=_NOTES.strip(),
    )
del _cls
