"""The classification layer: labels, class weights, classification losses, predictions."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.base import ClassifierMixin
from sklearn.exceptions import DataConversionWarning
from sklearn.utils import compute_class_weight
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ..engine._losses import PROBA_LOSSES, ClassificationLoss
from ._base import BaseIWEstimator
from ._docs import attributes_doc

_CLASS_WEIGHT_DOC = """\
class_weight : dict, 'balanced' or None, default=None
    Weights of the classes, multiplied into ``sample_weight``.
"""

_CLASSES_DOC = """\
classes_ : ndarray of shape (n_classes,)
    Class labels (label indices for multilabel targets).
"""

_LOO_DOC = """\
loo_bound_curve_ : list of float
    With importance weights: the leave-one-out bound after each epoch.
loo_bound_ : float
    With importance weights: a rigorous upper bound of the leave-one-out error of the
    fit (the last entry of ``loo_bound_curve_``): the samples ever active plus the
    training errors among the others, over n. Loose (measured 10-80x the true error
    with minibatches); NaN with a warning where it cannot hold.
loo_estimate_ : float
    With importance weights: an *estimate* (not a bound) of the leave-one-out error
    from the recorded run (``docs/importance_weights.md`` gives its measured accuracy
    against brute-force leave-one-out); NaN with a warning where it is not available,
    and where the model fits its training set and the estimate's two pieces disagree
    (``loo_reason_['estimate']`` gives both).
loo_influence_ : ndarray of shape (n_train,)
    With importance weights: the estimated change of each training sample's margin
    when it is left out (0 for samples never active, whose leave-one-out prediction is
    exactly the fit's); ``loo_estimate_`` counts the samples it moves across zero.
loo_decision_function_ : ndarray of shape (n_train,) or (n_train, n_classes)
    With importance weights: each training sample's decision values from the model
    trained without it, exact for samples never active and estimated for the others
    (the margin lowered by ``loo_influence_``), for any metric on leave-one-out outputs.
loo_predict_proba_ : ndarray of shape (n_train, n_classes)
    With importance weights and a loss with probabilities: the probabilities of
    ``loo_decision_function_``.
"""


# The classifiers' parts of the shared parameter docs (see ``parameters_doc``).
CLASSIFIER_DOC_PARTS = {
    "score": "accuracy; stratified split",
    "alpha_note": (
        "\n    With full batches, ``alpha=1`` gives the minimiser of scikit-learn's\n"
        "    ``LogisticRegression(C=1)``."
    ),
    "task_parameters": _CLASS_WEIGHT_DOC,
}
CLASSIFIER_ATTRIBUTES_DOC = attributes_doc(
    score="accuracy", task_attributes=_CLASSES_DOC, loo_attributes=_LOO_DOC
)


class BaseIWClassifier(ClassifierMixin, BaseIWEstimator):
    """Base class of the package's classifiers; not for direct use.

    Subclasses define ``__init__`` (their parameters plus the common ones documented
    by ``parameters_doc`` with ``CLASSIFIER_DOC_PARTS``) and :meth:`_build_module`;
    ``_multi_output`` says whether multilabel indicator targets are supported.
    """

    _parameter_constraints: dict = {
        **BaseIWEstimator._parameter_constraints,
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

    def _loss_name(self) -> str:
        return getattr(self, "loss", "log_loss")

    def _make_criterion(self) -> nn.Module:
        return ClassificationLoss(self._loss_name(), self.task_)

    def _n_outputs(self) -> int:
        return ClassificationLoss.n_outputs(self.task_, len(self.classes_))

    def _target_dtype(self, dtype: torch.dtype) -> torch.dtype:
        return torch.float64 if self.task_ == "multilabel" else torch.int64

    def _stratify(self, y_enc: np.ndarray) -> np.ndarray | None:
        if self.task_ != "multilabel" and np.bincount(y_enc).min() >= 2:
            return y_enc
        return None

    def _encode_targets(self, y, classes, first_call: bool) -> np.ndarray:
        """Set ``classes_``/``task_`` on the first call and return encoded targets."""
        if y.ndim == 2 and y.shape[1] == 1:
            warnings.warn(
                "A column-vector y was passed when a 1d array was expected. Please change "
                "the shape of y to (n_samples,), for example using ravel().",
                DataConversionWarning,
                stacklevel=4,
            )
            y = y.ravel()
        check_classification_targets(y)
        if first_call:
            target_type = type_of_target(y, input_name="y")
            if target_type == "multilabel-indicator" and self._multi_output:
                self.task_ = "multilabel"
                self.classes_ = np.arange(y.shape[1])
            elif target_type in ("binary", "multiclass"):
                self.classes_ = np.unique(y) if classes is None else np.unique(classes)
                self.task_ = "binary" if len(self.classes_) <= 2 else "multiclass"
            else:
                raise ValueError(
                    f"{type(self).__name__} does not support target type {target_type!r}."
                )
        if self.task_ == "multilabel":
            if y.ndim != 2 or y.shape[1] != len(self.classes_):
                raise ValueError(
                    f"y must be a {len(self.classes_)}-column indicator matrix, got shape "
                    f"{y.shape}."
                )
            return np.asarray(y, dtype=np.float64)
        if y.ndim != 1:
            raise ValueError(f"y must be one-dimensional for this problem, got shape {y.shape}.")
        unseen = np.setdiff1d(y, self.classes_)
        if unseen.size:
            raise ValueError(
                f"y contains labels not in classes_ {self.classes_.tolist()}: {unseen.tolist()}."
            )
        return np.searchsorted(self.classes_, y)

    def _sample_weights(self, X, y, y_enc, sample_weight) -> np.ndarray:
        weight = super()._sample_weights(X, y, y_enc, sample_weight)
        if self.class_weight is not None:
            if self.task_ == "multilabel":
                raise ValueError("class_weight is not supported for multilabel targets.")
            if isinstance(self.class_weight, dict):
                known = set(self.classes_.tolist())
                unknown = [c for c in self.class_weight if c not in known]
                if unknown:
                    raise ValueError(
                        f"class_weight names classes that are not in the data: {unknown}; "
                        f"the classes are {self.classes_.tolist()}."
                    )
            per_class = compute_class_weight(self.class_weight, classes=self.classes_, y=y)
            weight = weight * per_class[y_enc]
        if self.task_ != "multilabel":
            present = np.unique(y_enc[weight > 0])
            if len(present) < 2:
                raise ValueError(
                    f"{type(self).__name__} needs samples of at least 2 classes with positive "
                    f"weight in the data, but the data contain only one class: "
                    f"{self.classes_[present].tolist()}."
                )
        return weight

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Train for one epoch on X and y, continuing from the current weights.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Target labels.
        classes : array-like of shape (n_classes,), default=None
            All classes that will ever appear; required on the first call for
            single-label targets, ignored afterwards.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights.

        Returns
        -------
        self : object
            The estimator.
        """
        self._check_params()
        first = not hasattr(self, "net_")
        if first and classes is None and np.ndim(y) == 1:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        return self._fit(X, y, sample_weight, classes=classes, incremental=not first, epochs=1)

    def loo_obstacle(self) -> str | None:
        """Which of this estimator's settings could let a sample that never acted on an
        update change the run, or None: besides the common ones, a class weight computed
        from the class counts.

        Part of the leave-one-out protocol
        (:class:`~sklearn_iw.loo.LeaveOneOutEstimator`).

        Returns
        -------
        reason : str or None
            A clause that completes "... is NaN: ".
        """
        if not self.early_stopping and isinstance(self.class_weight, str):
            return "class_weight='balanced' depends on the class counts of every sample"
        return super().loo_obstacle()

    # ----------------------------------------------------------------- prediction
    def _labels(self, encoded: np.ndarray) -> np.ndarray:
        """Labels of encoded predictions (class indices, or a 0/1 matrix for multilabel)."""
        return encoded if self.task_ == "multilabel" else self.classes_[encoded]

    def decision_function(self, X):
        """Raw outputs of the network (logits / scores).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            One score per sample for binary problems, one per class otherwise.
        """
        return self.decision_from_outputs(self.module_outputs(X))

    def decision_from_outputs(self, output: torch.Tensor) -> np.ndarray:
        """What :meth:`decision_function` answers for module outputs.

        Part of the leave-one-out protocol
        (:class:`~sklearn_iw.loo.LeaveOneOutEstimator`).

        Parameters
        ----------
        output : torch.Tensor of shape (n_samples, n_outputs)
            Outputs of the fitted module.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        return self.net_.criterion_.decision(output).cpu().numpy()

    @property
    def loo_decision_function_(self) -> np.ndarray:
        """Estimated leave-one-out decision values of the training samples, in
        :meth:`decision_function`'s layout: each sample's value from the model trained
        without it, exact for samples never active, an *estimate* for the others (the
        true class's output lowered by ``loo_influence_``; ``loo_estimate_`` is their error
        rate). NaN, with a warning, where ``loo_estimate_`` is NaN."""
        return self._loo_outputs_as(self.net_.criterion_.decision)

    @property
    def loo_predict_proba_(self) -> np.ndarray:
        """Estimated leave-one-out class probabilities of the training samples (the
        probabilities of ``loo_decision_function_``, in :meth:`predict_proba`'s layout;
        for 'log_loss' and 'modified_huber'). NaN, with a warning, where
        ``loo_estimate_`` is NaN."""
        check_is_fitted(self)
        if not self._has_proba():
            raise AttributeError(
                f"loo_predict_proba_ needs probabilities: loss={self._loss_name()!r} has none."
            )
        return self._loo_outputs_as(self.net_.criterion_.proba)

    @staticmethod
    def prediction_error(predictions: np.ndarray, y: np.ndarray) -> float:
        """Error rate of ``predictions`` (a multilabel sample is wrong unless every label is
        right): the leave-one-out error of classifiers.

        Part of the leave-one-out protocol
        (:class:`~sklearn_iw.loo.LeaveOneOutEstimator`).

        Parameters
        ----------
        predictions : ndarray
            Predicted labels.
        y : ndarray
            True labels.

        Returns
        -------
        error : float
        """
        wrong = predictions != y
        return float(np.mean(wrong.any(axis=1) if wrong.ndim > 1 else wrong))

    def predict(self, X):
        """Predict class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_labels)
            Predicted labels (an indicator matrix for multilabel problems).
        """
        output = self.module_outputs(X)
        return self._labels(self.net_.criterion_.predict(output).cpu().numpy())

    def _has_proba(self) -> bool:
        return self._loss_name() in PROBA_LOSSES

    @available_if(_has_proba)
    def predict_proba(self, X):
        """Class probabilities (available for 'log_loss' and 'modified_huber').

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probability of each class (of each label for multilabel problems).
        """
        output = self.module_outputs(X)
        return self.net_.criterion_.proba(output).cpu().numpy()

    @available_if(_has_proba)
    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Log-probability of each class.
        """
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = self._multi_output
        return tags
