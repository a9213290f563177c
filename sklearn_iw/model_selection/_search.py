"""The leave-one-out searches and scorers (re-exported by :mod:`sklearn_iw.model_selection`)."""

from __future__ import annotations

import numbers
import time
import traceback
from abc import ABCMeta, abstractmethod
from copy import deepcopy

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, _fit_context, clone
from sklearn.metrics import check_scoring
from sklearn.model_selection import ParameterGrid, ParameterSampler

# scikit-learn's own helpers of its searches: the param_<name> columns and the messages
# about failed fits, as GridSearchCV gives them.
from sklearn.model_selection._search import _yield_masked_array_for_each_param
from sklearn.model_selection._validation import _warn_or_raise_about_fit_failures
from sklearn.utils import get_tags, indexable
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import check_is_fitted

from ..loo import leave_one_out
from ..loo._replay import final_step

CRITERIA = ("estimate", "bound", "replay")


def _read_loo(estimator, quantity: str) -> tuple[float, str | None]:
    """``(loo_<quantity>_, None)`` of a fitted estimator, or ``(nan, reason)`` where it has
    none (``quantity``: 'bound' or 'estimate')."""
    final = final_step(estimator)
    reasons = getattr(final, "loo_reason_", None)
    if reasons is None:
        return np.nan, (
            f"{type(final).__name__} has no loo_{quantity}_: only estimators trained by "
            "importance weights (sklearn_iw's IW* classifiers) have one."
        )
    if reasons[quantity] is not None:
        return np.nan, reasons[quantity] + "."
    return float(getattr(final, f"loo_{quantity}_")), None


def _replays_cheaply(estimator) -> bool:
    """Whether the fitted estimator (or pipeline) is one of ours whose replay re-runs
    only the ever-active samples (the leave-one-out lemma holds for its fit)."""
    reasons = getattr(final_step(estimator), "loo_reason_", None)
    return reasons is not None and reasons["replay"] is None


class _LeaveOneOutResponses:
    """A fitted estimator as a scorer sees it, answering every call with the training
    samples' leave-one-out predictions (and decision values, where given): a scikit-learn
    scorer then scores the leave-one-out predictions against the training targets."""

    def __init__(self, estimator, predictions: np.ndarray, decision: np.ndarray | None):
        self.estimator = estimator
        self.predictions = predictions
        self.decision = decision

    def __sklearn_tags__(self):
        return get_tags(self.estimator)

    @property
    def classes_(self):
        return self.estimator.classes_

    def predict(self, X):
        return self.predictions

    @available_if(lambda self: self.decision is not None)
    def decision_function(self, X):
        return self.decision


def _loo_responses(estimator, replay) -> _LeaveOneOutResponses:
    """The leave-one-out predictions of a fitted candidate: the replay's where it ran,
    else the estimate's."""
    final = final_step(estimator)
    classifier = hasattr(final, "classes_")
    if replay is not None:
        return _LeaveOneOutResponses(
            final, replay.predictions, replay.decision if classifier else None
        )
    decision = final.loo_decision_function_ if classifier else None
    return _LeaveOneOutResponses(final, final._loo_predictions(), decision)


def _scorer_target(estimator, quantity: str):
    final = final_step(estimator)
    if not hasattr(type(final), f"loo_{quantity}_"):
        raise TypeError(
            f"loo_{quantity}_scorer needs an estimator trained by importance weights (or a "
            f"Pipeline ending in one); {type(final).__name__} has no loo_{quantity}_."
        )
    return final


def loo_bound_scorer(estimator, X=None, y=None):
    """Score a fitted estimator by its leave-one-out bound: ``1 - loo_bound_``.

    A scorer with scikit-learn's ``scorer(estimator, X, y)`` signature, greater is
    better, so that the bound can drive :class:`~sklearn.model_selection.GridSearchCV`
    or :func:`~sklearn.model_selection.cross_validate`, alone or in a dict of scorers.
    The score is a lower bound of the estimator's leave-one-out accuracy *on its own
    training set*: ``X`` and ``y`` are ignored, so inside a cross-validation each split
    reports the bound of the model trained on that split's training part.
    :class:`LOOBoundSearchCV` with ``criterion='bound'`` gets the same ranking from a
    single fit per candidate.

    {parameters}

    See Also
    --------
    loo_estimate_scorer : The same for the leave-one-out estimate.

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
    ...     clf, {{"optimizer__C": [0.1, 1.0]}}, cv=3,
    ...     scoring={{"loo": loo_bound_scorer, "accuracy": "accuracy"}}, refit="loo",
    ... ).fit(X, y)
    >>> sorted(k for k in search.cv_results_ if k.startswith("mean_test"))
    ['mean_test_accuracy', 'mean_test_loo']
    """
    return 1.0 - float(_scorer_target(estimator, "bound").loo_bound_)


def loo_estimate_scorer(estimator, X=None, y=None):
    """Score a fitted estimator by its leave-one-out estimate: ``1 - loo_estimate_``.

    The sibling of :func:`loo_bound_scorer` for the approximate leave-one-out error
    ``loo_estimate_``: an estimate of the leave-one-out accuracy on the estimator's own
    training set (not a bound; see ``docs/importance_weights.md`` for its measured
    accuracy). ``X`` and ``y`` are ignored.

    {parameters}

    Examples
    --------
    Next to the held-out accuracy of each split of a cross-validation:

    >>> from sklearn.datasets import make_classification
    >>> from sklearn.model_selection import cross_validate
    >>> from sklearn_iw import IWMLPClassifier, loo_estimate_scorer
    >>> X, y = make_classification(120, n_features=5, random_state=0)
    >>> mlp = IWMLPClassifier((8,), batch_size="full", max_iter=20, random_state=0)
    >>> scores = cross_validate(
    ...     mlp, X, y, cv=2, scoring={{"loo": loo_estimate_scorer, "accuracy": "accuracy"}}
    ... )
    >>> bool(((scores["test_loo"] >= 0) & (scores["test_loo"] <= 1)).all())
    True
    """
    return 1.0 - float(_scorer_target(estimator, "estimate").loo_estimate_)


_SCORER_PARAMETERS = """\
Parameters
    ----------
    estimator : estimator
        A fitted importance-weights classifier (``IWLogisticRegression``,
        ``IWMLPClassifier``, ...) or a :class:`~sklearn.pipeline.Pipeline` whose last
        step is one; ``loo_{quantity}_`` is read from that last step.
    X : object, default=None
        Ignored.
    y : object, default=None
        Ignored.

    Returns
    -------
    score : float
        ``1 - loo_{quantity}_``; NaN, with the estimator's warning saying why, where it
        is not available (another optimizer, dropout, early stopping, ...).

    Raises
    ------
    TypeError
        If the (last step of the) estimator has no ``loo_{quantity}_``."""

for _scorer, _quantity in ((loo_bound_scorer, "bound"), (loo_estimate_scorer, "estimate")):
    _scorer.__doc__ = _scorer.__doc__.format(
        parameters=_SCORER_PARAMETERS.format(quantity=_quantity)
    )


def _format_params(params: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in params.items()) or "(default parameters)"


def _replay_weight(fit_params: dict):
    """The sample weights among ``fit_params`` (``sample_weight`` or a pipeline's
    ``<step>__sample_weight``): the only fit parameter a replay passes on."""
    unknown = [key for key in fit_params if not key.endswith("sample_weight")]
    if unknown:
        raise ValueError(
            f"criterion='replay' passes only sample weights to the fits; got {unknown}."
        )
    return next(iter(fit_params.values()), None)


def _fit_candidate(
    base_estimator,
    X,
    y,
    parameters,
    fit_params,
    *,
    criterion,
    scorer,
    error_score,
    keep,
    verbose,
    progress,
):
    """Fit one candidate on all the data (with its replays for ``criterion='replay'``);
    read its leave-one-out quantities and its training score."""
    # As scikit-learn's _fit_and_score: an invalid parameter name raises, whatever
    # error_score says, because it is a mistake in the grid rather than a failed fit.
    estimator = clone(base_estimator).set_params(**clone(parameters, safe=False))
    result = {
        "estimator": None,
        "loo_bound": np.nan,
        "loo_estimate": np.nan,
        "loo_replay": np.nan,
        "replay_cost_fraction": np.nan,
        "n_support": np.nan,
        "loo_score": np.nan,
        "train_score": error_score,
        "fit_time": 0.0,
        "score_time": 0.0,
        "fit_error": None,
    }
    start = time.perf_counter()
    replay = None
    try:
        if criterion == "replay":
            replay = leave_one_out(estimator, X, y, sample_weight=_replay_weight(fit_params))
            estimator = replay.estimator
            result["loo_replay"] = replay.error
            result["replay_cost_fraction"] = replay.cost_fraction
        else:
            estimator.fit(X, y, **fit_params)
    except Exception:
        if error_score == "raise":
            raise
        result["fit_time"] = time.perf_counter() - start
        result["fit_error"] = traceback.format_exc()
        return result
    result["fit_time"] = time.perf_counter() - start

    result["loo_bound"], _ = _read_loo(estimator, "bound")
    result["loo_estimate"], reason = _read_loo(estimator, "estimate")
    if criterion == "bound":
        reason = _read_loo(estimator, "bound")[1]
    elif criterion == "estimate" and reason is not None and _replays_cheaply(estimator):
        # The documented fallback: where the estimate is NaN but the lemma holds, the
        # exact replay ranks the candidate (it re-runs only the ever-active samples).
        replay = leave_one_out(estimator, X, y, sample_weight=_replay_weight(fit_params))
        result["loo_replay"] = replay.error
        result["replay_cost_fraction"] = replay.cost_fraction
        reason = None
    if criterion != "replay" and reason is not None:
        raise ValueError(
            f"The leave-one-out {criterion} of candidate {progress[0] + 1}/{progress[1]} "
            f"({_format_params(parameters)}) is NaN, so the candidates cannot be ranked "
            f"by it: {reason} Search only over importance-weights settings where it "
            "holds, use criterion='replay' (exact, refits where it must), or GridSearchCV."
        )
    support = getattr(final_step(estimator), "support_", None)
    if support is not None:
        result["n_support"] = len(support)

    start = time.perf_counter()
    try:
        if scorer is not None:
            result["loo_score"] = scorer(_loo_responses(estimator, replay), X, y)
        result["train_score"] = estimator.score(X, y)
    except Exception:
        if error_score == "raise":
            raise
        result["fit_error"] = traceback.format_exc()
        result[f"loo_{criterion}"] = np.nan
        return result
    finally:
        result["score_time"] = time.perf_counter() - start
    if keep:
        result["estimator"] = estimator
    if verbose > 1:
        print(
            f"[LOO {progress[0] + 1}/{progress[1]}] END {_format_params(parameters)}; "
            f"loo_{criterion}={result[f'loo_{criterion}']:.3f}; "
            f"train_score={result['train_score']:.3f}; "
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
    """Shared machinery of the two searches: fit each candidate once, rank by a
    leave-one-out quantity."""

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit"])],
        "criterion": [StrOptions(set(CRITERIA))],
        "scoring": [str, callable, None],
        "n_jobs": [numbers.Integral, None],
        "refit": ["boolean"],
        "verbose": ["verbose"],
        "error_score": [StrOptions({"raise"}), numbers.Real],
    }

    @abstractmethod
    def __init__(
        self,
        estimator,
        *,
        criterion="estimate",
        scoring=None,
        n_jobs=None,
        refit=True,
        verbose=0,
        error_score=np.nan,
    ):
        self.estimator = estimator
        self.criterion = criterion
        self.scoring = scoring
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
        """Fit every candidate once on all the data and rank them by ``criterion``.

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

        if self.scoring is not None and self.criterion == "bound":
            raise ValueError(
                "scoring needs leave-one-out predictions, which criterion='bound' has not: "
                "use criterion='estimate' or 'replay'."
            )
        scorer = None if self.scoring is None else check_scoring(self.estimator, self.scoring)
        base_estimator = clone(self.estimator)
        out = Parallel(n_jobs=self.n_jobs)(
            delayed(_fit_candidate)(
                base_estimator,
                X,
                y,
                parameters,
                fit_params,
                criterion=self.criterion,
                scorer=scorer,
                error_score=self.error_score,
                keep=bool(self.refit),
                verbose=self.verbose,
                progress=(index, n_candidates),
            )
            for index, parameters in enumerate(candidate_params)
        )
        _warn_or_raise_about_fit_failures(out, self.error_score)

        failed = np.array([r["fit_error"] is not None for r in out])
        columns = ("loo_bound", "loo_estimate", "loo_replay", "replay_cost_fraction")
        loo = {key: np.array([r[key] for r in out], dtype=np.float64) for key in columns}
        # error_score='raise' leaves no failed candidate here.
        error_value = np.nan if self.error_score == "raise" else float(self.error_score)
        errors = loo[f"loo_{self.criterion}"]
        if self.criterion == "estimate":  # the replay of the candidates without one
            errors = np.where(np.isnan(errors), loo["loo_replay"], errors)
        if scorer is not None:
            errors = 1.0 - np.array([r["loo_score"] for r in out], dtype=np.float64)
        test_scores = np.where(failed, error_value, 1.0 - errors)
        train_scores = np.array([r["train_score"] for r in out], dtype=np.float64)

        results = {
            "mean_fit_time": np.array([r["fit_time"] for r in out]),
            "mean_score_time": np.array([r["score_time"] for r in out]),
        }
        for key, masked in _yield_masked_array_for_each_param(candidate_params):
            results[key] = masked
        results["params"] = candidate_params
        for key in columns:
            if key != "replay_cost_fraction" or self.criterion == "replay":
                results[key] = loo[key]
        results["n_support"] = np.array([r["n_support"] for r in out], dtype=np.float64)
        results["mean_test_score"] = test_scores
        results["rank_test_score"] = _rank(test_scores, train_scores)
        results["train_score"] = train_scores
        self.cv_results_ = results
        self.n_candidates_ = n_candidates

        self.best_index_ = int(np.flatnonzero(results["rank_test_score"] == 1)[0])
        self.best_params_ = candidate_params[self.best_index_]
        self.best_score_ = float(test_scores[self.best_index_])
        self.best_loo_bound_ = float(loo["loo_bound"][self.best_index_])
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
    criterion : {'estimate', 'bound', 'replay'}, default='estimate'
        The leave-one-out error that ranks the candidates: 'estimate' ranks by
        ``loo_estimate_`` (approximate, computed with every fit at little extra cost),
        'bound' by ``loo_bound_`` (a rigorous upper bound, loose unless few samples are
        ever active), 'replay' by the exact leave-one-out error of
        :func:`leave_one_out` (re-runs each ever-active sample from a checkpoint: a
        fraction of n refits per candidate). For regressors the errors are mean
        squared errors (``loo_estimate_`` estimates the leave-one-out one).
    scoring : str, callable or None, default=None
        How the leave-one-out predictions of each candidate score (greater is better):
        None gives one minus the ``criterion``'s leave-one-out error (the leave-one-out
        accuracy of classifiers, one minus the leave-one-out mean squared error of
        regressors); a scikit-learn scorer name (``'r2'``,
        ``'neg_mean_squared_error'``, ``'accuracy'``, ``'roc_auc'``, ...) or a callable
        ``scorer(estimator, X, y)`` scores each training sample's prediction from the
        model trained without it, as :func:`leave_one_out` (``criterion='replay'``) or
        the estimate (``criterion='estimate'``: ``loo_predict_`` of regressors,
        ``loo_decision_function_`` of classifiers; no probabilities) gives them, against
        the training targets. Not with ``criterion='bound'``, which has no predictions.
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
        ``train_score`` (its leave-one-out columns are NaN) with a ``FitFailedWarning``,
        as in :class:`~sklearn.model_selection.GridSearchCV`. This does not cover a
        candidate that fits but whose bound or estimate (the ``criterion``) is NaN. With
        ``criterion='estimate'``, a candidate whose estimate is NaN while its exact replay
        is cheap (``loo_reason_['replay']`` is None: the hinge loss, multilabel targets,
        too many active samples, a failed factorisation) is ranked by the replay, stored
        in ``loo_replay``; any other NaN criterion is a ValueError naming the candidate
        and the reason (``loo_reason_``), since such a candidate cannot be ranked.
"""

_COMMON_ATTRIBUTES = """\
    cv_results_ : dict of numpy (masked) ndarrays
        One entry per candidate, importable into a pandas DataFrame:
        ``mean_fit_time`` and ``mean_score_time`` (seconds of its single fit and of
        its training score), ``param_<name>`` (masked arrays), ``params`` (list of
        dicts), ``loo_bound``, ``loo_estimate`` (NaN where a candidate has none),
        ``loo_replay`` (the exact leave-one-out error with ``criterion='replay'``, and
        with ``criterion='estimate'`` for the candidates ranked by it because their
        estimate is NaN; else NaN), ``replay_cost_fraction`` (with
        ``criterion='replay'``: epochs re-run over those of n refits), ``n_support``
        (samples ever active, ``len(support_)``),
        ``mean_test_score`` (one minus the criterion's leave-one-out error, or the
        ``scoring`` of its leave-one-out predictions; ``error_score`` for failed
        candidates), ``rank_test_score`` (by
        ``mean_test_score``, ties broken by ``train_score``; candidates equal in both
        share a rank) and ``train_score`` (the fitted candidate's ``score`` on the
        training data).
    best_estimator_ : estimator
        The best candidate's model, trained on all the data (only with
        ``refit=True``).
    best_index_ : int
        Index of the best candidate in ``cv_results_``: the smallest leave-one-out
        error by ``criterion``, then the highest training score, then the first in
        order.
    best_params_ : dict
        Parameter setting of the best candidate.
    best_score_ : float
        ``mean_test_score`` of the best candidate.
    best_loo_bound_ : float
        ``loo_bound_`` of the best candidate.
    n_candidates_ : int
        Number of candidates fitted.
    refit_time_ : float
        Always 0.0 (with ``refit=True``): the best model is not fitted again.
    multimetric_ : bool
        Always False: candidates are ranked by one criterion.
    classes_ : ndarray of shape (n_classes,)
        Class labels of ``best_estimator_``.
    n_features_in_ : int
        Number of features seen during fit (with ``refit=True``).
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Feature names seen during fit, when ``best_estimator_`` has them.
"""

_NOTES = """\
    The three criteria (``docs/importance_weights.md`` has their measured accuracy):

    - ``'estimate'``: ``loo_estimate_``, an approximate leave-one-out error from the
      recorded run, exact for samples that were never active; an estimate, not a
      bound. Needs settings where the leave-one-out lemma holds (no dropout, no
      ``early_stopping``, ...; ``loo_reason_`` says why not).
    - ``'bound'``: ``loo_bound_`` counts every sample that was ever active plus the
      training errors among the others. Rigorous but loose (10-80x the true error with
      minibatches); it prefers the candidate that needed the fewest active samples,
      which tends to be less trained than cross-validation's choice.
    - ``'replay'``: the exact leave-one-out error by :func:`leave_one_out`: each
      candidate costs one fit plus a re-run of every ever-active sample from the epoch
      it first became active. Where the lemma does not hold every sample is refitted.

    In a :class:`~sklearn.pipeline.Pipeline` the quantities belong to the last step
    trained on the transformed data; preprocessing fitted on the data (a scaler, say)
    is not re-fitted without each sample, so for the whole pipeline they are
    approximate.
"""


class LOOBoundSearchCV(_BaseLOOBoundSearch):
    """Exhaustive search ranked by leave-one-out, one fit per candidate.

    Fits every parameter setting of ``param_grid`` once, on all the data, and ranks the
    fitted models by a leave-one-out error that importance-weights training knows of
    itself (``criterion``: the estimate, the bound or the exact replay). Compared with
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
    leave_one_out : Exact leave-one-out predictions of one estimator.
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
    >>> estimates = search.cv_results_["loo_estimate"]
    >>> bool(search.best_score_ == 1 - estimates.min())
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
        criterion="estimate",
        scoring=None,
        n_jobs=None,
        refit=True,
        verbose=0,
        error_score=np.nan,
    ):
        super().__init__(
            estimator,
            criterion=criterion,
            scoring=scoring,
            n_jobs=n_jobs,
            refit=refit,
            verbose=verbose,
            error_score=error_score,
        )
        self.param_grid = param_grid

    def _candidate_params(self) -> list[dict]:
        return list(ParameterGrid(self.param_grid))


class LOOBoundRandomizedSearchCV(_BaseLOOBoundSearch):
    """Randomized search ranked by leave-one-out, one fit per candidate.

    Samples ``n_iter`` parameter settings from ``param_distributions`` (as
    :class:`~sklearn.model_selection.RandomizedSearchCV` does, through
    :class:`~sklearn.model_selection.ParameterSampler`), fits each once on all the
    data and ranks the fitted models by a leave-one-out error (``criterion``).

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
        criterion="estimate",
        scoring=None,
        n_jobs=None,
        refit=True,
        verbose=0,
        error_score=np.nan,
    ):
        super().__init__(
            estimator,
            criterion=criterion,
            scoring=scoring,
            n_jobs=n_jobs,
            refit=refit,
            verbose=verbose,
            error_score=error_score,
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
