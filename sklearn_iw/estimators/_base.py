"""The scikit-learn face shared by every estimator: validation, encoding, weights, attributes.

Concrete estimators only add their torch module and defaults (``_build_module`` and the
``__init__`` signature); everything else — input validation, label encoding, sample and
class weights, the validation split, seeding, the engine's callbacks and the fitted
attributes — lives here, so all estimators behave alike.
"""

from __future__ import annotations

import math
import threading
import warnings
from functools import partial
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state, compute_class_weight
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data
from skorch.callbacks import EarlyStopping, PrintLog
from torch import nn

from ..solvers import (
    OPTIMIZERS,
    SCHEDULES,
    OptimizerSpec,
    ScheduleSpec,
    resolve_optimizer,
    resolve_schedule,
)
from ._engine import (
    ContinuingLRScheduler,
    SplitData,
    TensorData,
    TrainingEngine,
    ValidAccuracy,
    _build_schedule,
    content_keys,
    eval_forward,
    shared_tensor,
)
from ._layers import SeededDropout
from ._loo import Checkpoint, LeaveOneOutRecorder, ResumeFrom, nan_with_reason, record_attributes
from ._losses import PROBA_LOSSES, ClassificationLoss

COMMON_PARAMETERS_DOC = """\
optimizer : str or OptimizerSpec, default={optimizer!r}
    The training rule: 'importance_weights' (each minibatch step solves a small QP
    over the per-sample gradients, see ``ImportanceWeights``), 'gd', 'sgd',
    'momentum', 'nesterov', 'adagrad', 'rmsprop', 'adadelta', 'adam', 'rprop',
    'quickprop', 'delta_delta', 'delta_bar_delta', 'lbfgs', or a spec object from
    :mod:`sklearn_iw.solvers` such as ``Adam(lr=1e-3)``; its hyperparameters are
    tunable as ``optimizer__lr``.
lr_schedule : str or ScheduleSpec, default='constant'
    Learning-rate schedule stepped once per epoch: 'constant', 'exponential',
    'inverse_time', 'inverse_sqrt', 'linear', 'cosine', 'cosine_restarts',
    'one_cycle', 'plateau', or a spec object.
batch_size : 'auto', 'full' or int, default='auto'
    Minibatch size; 'auto' is ``min(200, n_samples)``, 'full' the whole training
    set. Full-batch optimizers ('gd', 'lbfgs', ...) ignore it.
max_iter : int, default={max_iter}
    Maximum number of epochs.
tol : float, default=1e-4
    Minimum improvement of the training loss (of the validation accuracy with
    ``early_stopping``) that resets the ``n_iter_no_change`` counter.
n_iter_no_change : int, default=10
    Stop after this many epochs without an improvement of at least ``tol``.
early_stopping : bool, default=False
    Hold out ``validation_fraction`` of the training data (stratified), stop when
    its accuracy stops improving, and restore the best epoch's weights.
validation_fraction : float, default=0.1
    Fraction of the training data held out with ``early_stopping``.
alpha : float, default={alpha}
    L2 penalty: the objective is the weighted mean loss plus
    ``alpha / (2 * sum(sample_weight)) * sum ||W||^2`` over weight matrices
    (biases are not penalised). With full batches, ``alpha=1`` gives the
    minimiser of scikit-learn's ``LogisticRegression(C=1)``. With
    ``optimizer='importance_weights'`` it is a decoupled weight decay per step,
    ``W <- (1 - lr * alpha) W``, independent of the number of samples (which the
    leave-one-out bound needs). A coefficient ``alpha / sum(sample_weight)`` beyond
    the range of the training dtype raises a ``ValueError``.
class_weight : dict, 'balanced' or None, default=None
    Weights of the classes, multiplied into ``sample_weight``.
update_clip : float or None, default=None
    Clip each coordinate of every update to ``[-update_clip, update_clip]``.
device : {{'auto', 'cpu', 'cuda'}}, default='auto'
    Where to train; 'auto' uses CUDA when available.
random_state : int, RandomState instance or None, default=None
    Seeds weight initialisation, shuffling and dropout.
verbose : int, default=0
    Print one line per epoch when positive.
warm_start : bool, default=False
    Continue from the previous solution when ``fit`` is called again.
"""

COMMON_ATTRIBUTES_DOC = """\
classes_ : ndarray of shape (n_classes,)
    Class labels (label indices for multilabel targets).
n_features_in_ : int
    Number of features seen during fit.
feature_names_in_ : ndarray of shape (``n_features_in_``,)
    Names of features seen during fit, when X has string feature names.
n_iter_ : int
    Number of epochs run (summed over ``partial_fit`` calls).
t_ : int
    Number of training samples seen by the optimizer.
loss_curve_ : list of float
    Training loss (penalty included) of each epoch.
best_loss_ : float or None
    Smallest training loss; None with ``early_stopping``.
validation_scores_ : list of float or None
    Validation accuracy of each epoch with ``early_stopping``, else None.
best_validation_score_ : float or None
    Best validation accuracy with ``early_stopping``, else None.
net_ : TrainingEngine
    The fitted skorch net; ``net_.history`` holds the per-epoch records.
importance_weights_ : ndarray of shape (n_train,)
    With importance weights: the last importance weight ``alpha_i`` of each training
    sample (the training part with ``early_stopping``).
support_ : ndarray of int
    With importance weights: indices of the training samples with ``alpha_i > 0`` at
    any step, as ``SVC.support_``.
activation_epoch_ : ndarray of shape (n_train,)
    With importance weights: the epoch (from 0) in which each training sample was first
    active (``alpha_i > 0``), -1 for samples never active. The run without sample k is
    the same as this run up to that epoch (what ``leave_one_out`` replays from).
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
    against brute-force leave-one-out); NaN with a warning where it is not available.
loo_influence_ : ndarray of shape (n_train,)
    With importance weights: the estimated change of each training sample's margin
    when it is left out (0 for samples never active, whose leave-one-out prediction is
    exactly the fit's); ``loo_estimate_`` counts the samples it moves across zero.
loo_reason_ : dict of str to str or None
    Why each leave-one-out quantity ('bound', 'estimate', 'replay') is not available
    (NaN) or, for 'replay', why ``leave_one_out`` must refit every sample from scratch;
    None where it holds.
"""

_DEVICES = ("auto", "cpu", "cuda")
# Held while a fit seeds torch's global generator to initialise its module.
_GLOBAL_RNG_LOCK = threading.Lock()


def _noop(*args, **kwargs) -> None:
    """Output sink that prints nothing (skorch callbacks take a ``sink``)."""


class BaseIWClassifier(ClassifierMixin, BaseEstimator):
    """Base class of the package's classifiers; not for direct use.

    Subclasses define ``__init__`` (their parameters plus the common ones documented in
    ``COMMON_PARAMETERS_DOC``) and :meth:`_build_module`.
    """

    _supports_multilabel = False
    # The parameters every estimator shares; subclasses add theirs with
    # ``{**BaseIWClassifier._parameter_constraints, ...}``.
    _parameter_constraints: dict = {
        "optimizer": [StrOptions(set(OPTIMIZERS)), OptimizerSpec],
        "lr_schedule": [StrOptions(set(SCHEDULES)), ScheduleSpec],
        "batch_size": [StrOptions({"auto", "full"}), Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, math.inf, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "alpha": [Interval(Real, 0, math.inf, closed="left")],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "update_clip": [Interval(Real, 0, math.inf, closed="neither"), None],
        "device": [StrOptions(set(_DEVICES))],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
    }

    def _build_module(self, n_features: int, n_outputs: int) -> nn.Module:
        """Return the freshly initialised torch module (float32, on the CPU)."""
        raise NotImplementedError

    def _loss_name(self) -> str:
        return getattr(self, "loss", "log_loss")

    def _set_fitted_weights(self) -> None:
        """Expose the module's weights as scikit-learn style numpy attributes."""

    # ----------------------------------------------------------------- validation
    def _check_params(self) -> None:
        """Validate the parameters against ``_parameter_constraints`` (raising
        scikit-learn's ``InvalidParameterError``), then what a constraint cannot express:
        that a requested CUDA device exists."""
        self._validate_params()
        if self.device == "cuda" and not torch.cuda.is_available():
            raise ValueError(
                "device='cuda' was requested but CUDA is not available: torch sees no GPU. "
                "Use device='auto' (CUDA when available) or device='cpu'."
            )

    def _device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)

    def _batch_size(self, n_samples: int, full_batch: bool) -> int:
        if full_batch or self.batch_size == "full":
            return n_samples
        if self.batch_size == "auto":
            return min(200, n_samples)
        if self.batch_size > n_samples:
            warnings.warn(
                f"Got `batch_size` larger than the sample size ({n_samples}); "
                "it is clipped to the sample size.",
                UserWarning,
                stacklevel=3,
            )
        return min(self.batch_size, n_samples)

    # ----------------------------------------------------------------- targets
    def _encode_targets(self, y, classes, first_call: bool) -> np.ndarray:
        """Set ``classes_``/``task_`` on the first call and return encoded targets."""
        if first_call:
            target_type = type_of_target(y, input_name="y")
            if target_type == "multilabel-indicator" and self._supports_multilabel:
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
        weight = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
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
        if not weight.sum() > 0:
            raise ValueError("The sample weights sum to zero.")
        return weight

    # ----------------------------------------------------------------- fitting
    def fit(self, X, y, sample_weight=None):
        """Fit the model to data X and targets y.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Target labels (an indicator matrix for multilabel problems).
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights; None gives every sample weight 1.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._check_params()
        warm = self.warm_start and hasattr(self, "net_")
        return self._fit(X, y, sample_weight, classes=None, incremental=warm, epochs=None)

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

    def _fit_with_checkpoints(self, X, y, sample_weight) -> None:
        """:meth:`fit`, keeping a checkpoint of the run at every epoch for replays
        (:func:`~sklearn_iw.model_selection.leave_one_out`)."""
        self._check_params()
        self._fit(X, y, sample_weight, classes=None, incremental=False, checkpoints=True)

    def _resume_fit(self, X, y, sample_weight, checkpoint: Checkpoint, seed: int) -> None:
        """Train from ``checkpoint`` (a state of a run on these data) to the end of
        training, as a fresh fit seeded with ``seed`` would."""
        self._check_params()
        self._fit(X, y, sample_weight, classes=None, incremental=False, resume=(checkpoint, seed))

    def _fit(
        self,
        X,
        y,
        sample_weight,
        *,
        classes,
        incremental: bool,
        epochs: int | None = None,
        checkpoints: bool = False,
        resume: tuple[Checkpoint, int] | None = None,
    ):
        spec = resolve_optimizer(self.optimizer)
        schedule = resolve_schedule(self.lr_schedule)
        X, y = self._validate_training_data(X, y, reset=not incremental)
        if y.ndim == 2 and y.shape[1] == 1:
            warnings.warn(
                "A column-vector y was passed when a 1d array was expected. Please change "
                "the shape of y to (n_samples,), for example using ravel().",
                DataConversionWarning,
                stacklevel=3,
            )
            y = y.ravel()
        check_classification_targets(y)
        y_enc = self._encode_targets(y, classes, first_call=not incremental)
        weight = self._sample_weights(X, y, y_enc, sample_weight)
        device = self._device()
        dtype = torch.float64 if X.dtype == np.float64 else torch.float32
        if incremental:  # continued training keeps the dtype of the weights
            dtype = next(self.net_.module_.parameters()).dtype

        if not incremental:
            seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
            # A replay runs on as the run it resumes, seeded as that run was.
            self._seed = int(seed) if resume is None else resume[1]
            self.n_iter_ = 0
            self.t_ = 0
            self.loss_curve_ = []
            self.validation_scores_ = [] if self.early_stopping else None

        train_idx, valid_idx = self._split(y_enc)
        y_dtype = torch.float64 if self.task_ == "multilabel" else torch.int64
        raw_train_weight = weight[train_idx]
        # Continued training keeps the optimizer it started with.
        per_sample = (self.net_.optimizer_spec if incremental else spec).per_sample
        # The L2 coefficient of the objective (see alpha); per-sample optimizers apply
        # alpha as a per-step decay that must not depend on n.
        l2_coef = self.alpha if per_sample else self.alpha / float(raw_train_weight.sum())
        if l2_coef > torch.finfo(dtype).max:
            raise ValueError(
                f"alpha / sum(sample_weight) = {l2_coef:.3g} overflows {dtype}: the L2 "
                "penalty would swamp the data. Scale sample_weight up or alpha down."
            )
        # Train on weights of mean 1 (the weighted mean loss does not change): tiny
        # weights would underflow in float32. Importance weights scale them back for
        # their bounds C_i.
        weight_scale = float(raw_train_weight.mean())
        weight = weight / weight_scale

        def tensors(index, keyed=False):
            # Without a validation split the index is every sample: a slice views X where
            # fancy indexing would copy it (training never writes to its inputs).
            rows = slice(None) if len(index) == len(y_enc) else index
            X_rows, y_rows = np.ascontiguousarray(X[rows]), y_enc[rows]
            return TensorData(
                shared_tensor(X_rows, dtype, device),
                torch.as_tensor(y_rows, dtype=y_dtype, device=device),
                torch.as_tensor(weight[rows], dtype=dtype, device=device),
                content_keys(X_rows, y_rows) if keyed else None,
            )

        data = SplitData(
            tensors(train_idx, keyed=spec.keyed_batches),
            tensors(valid_idx) if valid_idx is not None else None,
        )
        n_epochs = self.max_iter if epochs is None else epochs
        if resume is not None:
            n_epochs -= resume[0].epoch

        seed = self._seed + self.n_iter_
        if not incremental:
            # The initialisation draws from torch's global generator: seed it for this fit
            # alone, with other threads' fits kept out meanwhile.
            devices = [device.index or 0] if device.type == "cuda" else []
            with _GLOBAL_RNG_LOCK, torch.random.fork_rng(devices=devices):
                torch.manual_seed(seed)
                module = self._build_module(
                    X.shape[-1], ClassificationLoss.n_outputs(self.task_, len(self.classes_))
                )
            self.net_ = self._make_engine(
                module, spec, schedule, device, dtype, checkpoints, resume and resume[0]
            )
            self.net_.initialize()
        engine = self.net_
        # Batch order and dropout masks come from generators of this fit, so fits running
        # in threads at the same time are independent and reproducible.
        engine.generator = torch.Generator().manual_seed(seed)
        dropout_generator = torch.Generator(device).manual_seed(seed + 1)
        for layer in engine.module_.modules():
            if isinstance(layer, SeededDropout):
                layer.generator = dropout_generator
        engine.batch_size = self._batch_size(len(train_idx), spec.full_batch)
        engine.weight_scale = weight_scale
        engine.batch_seed = self._seed
        engine.l2_coef = l2_coef
        if per_sample and not (
            incremental and len(engine.optimizer_.ever_active) == len(train_idx)
        ):
            engine.optimizer_.reset_samples(len(train_idx), device, dtype)
        n_before = len(engine.history)
        engine.partial_fit(data, None, epochs=n_epochs)

        self._record_history(n_before, len(train_idx))
        self._set_fitted_weights()
        if resume is None:  # a replay only serves its prediction of the left-out sample
            record_attributes(self, data.train, incremental)
        if epochs is None and self._ran_out_of_epochs(n_before):
            warnings.warn(
                f"{type(self).__name__}: maximum iterations ({self.max_iter}) reached and the "
                "optimization hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=3,
            )
        return self

    def _split(self, y_enc):
        """Indices of the training and validation samples."""
        index = np.arange(len(y_enc))
        if not self.early_stopping:
            return index, None
        stratify = None
        if self.task_ != "multilabel" and np.bincount(y_enc).min() >= 2:
            stratify = y_enc
        try:
            return train_test_split(
                index,
                test_size=self.validation_fraction,
                random_state=self._seed,
                stratify=stratify,
            )
        except ValueError as exc:
            raise ValueError(
                f"The validation set is too small for the data (validation_fraction="
                f"{self.validation_fraction}); increase validation_fraction. ({exc})"
            ) from exc

    def _make_engine(
        self,
        module,
        spec,
        schedule,
        device,
        dtype,
        checkpoints: bool = False,
        resume: Checkpoint | None = None,
    ) -> TrainingEngine:
        monitor = "valid_acc" if self.early_stopping else "train_loss"
        sink = print if self.verbose else _noop
        callbacks = [
            (
                "lr_schedule",
                ContinuingLRScheduler(
                    policy=partial(_build_schedule, schedule, self.max_iter),
                    monitor="valid_loss" if self.early_stopping else "train_loss",
                    event_name="event_lr",
                ),
            ),
            (
                "stopping",
                EarlyStopping(
                    monitor=monitor,
                    patience=self.n_iter_no_change,
                    threshold=self.tol,
                    threshold_mode="abs",
                    lower_is_better=not self.early_stopping,
                    load_best=self.early_stopping,
                    sink=sink,
                ),
            ),
        ]
        # Before "stopping": EarlyStopping ends an epoch by raising, skipping later callbacks.
        recorder = LeaveOneOutRecorder(self.n_iter_no_change, self.tol, checkpoints=checkpoints)
        callbacks.insert(1, ("loo", recorder))
        if resume is not None:  # last: after the others have set themselves up
            callbacks.append(("resume", ResumeFrom(resume)))
        if self.early_stopping:
            callbacks.insert(0, ("valid_acc", ValidAccuracy()))
        criterion = ClassificationLoss(self._loss_name(), self.task_)
        return TrainingEngine(
            module.to(dtype=dtype),
            criterion,
            optimizer_spec=spec,
            max_epochs=self.max_iter,
            batch_size=1,
            train_split=None,
            callbacks=callbacks,
            device=device,
            verbose=int(self.verbose),
            warm_start=True,
            update_clip=self.update_clip,
            # skorch's per-epoch table costs ~0.5 ms an epoch even when nothing is printed.
            callbacks__print_log=None if not self.verbose else PrintLog(),
        )

    def _record_history(self, n_before: int, n_train: int) -> None:
        history = self.net_.history
        n_new = len(history) - n_before
        self.n_iter_ += n_new
        self.t_ += n_new * n_train
        # Rows, not history[n_before:, key]: skorch raises on a slice without rows.
        rows = history[n_before:]
        self.loss_curve_ += [float(row["train_loss"]) for row in rows]
        if self.early_stopping:
            self.validation_scores_ += [float(row["valid_acc"]) for row in rows]
            self.best_validation_score_ = max(self.validation_scores_, default=None)
            self.best_loss_ = None
        else:
            self.best_validation_score_ = None
            self.best_loss_ = min(self.loss_curve_, default=None)
        if self.net_.diverged_at_ is not None:
            warnings.warn(
                f"{type(self).__name__}: the optimizer diverged, the training loss (or its "
                f"gradient) became NaN or infinite in epoch {self.net_.diverged_at_}. Training "
                f"stopped and the weights after epoch {self.n_iter_} were restored (0: the "
                "initial weights). "
                "Lower the learning rate (e.g. optimizer=SGD(lr=...) or optimizer__lr), "
                "standardize the features (StandardScaler), bound the steps with "
                "update_clip, or use an adaptive optimizer such as 'adam'.",
                ConvergenceWarning,
                stacklevel=4,
            )

    @property
    def loo_bound_(self) -> float:
        """Leave-one-out error bound of importance weights (NaN, with a warning, where it
        cannot hold: another optimizer, dropout, early stopping, ...; ``loo_reason_``
        says why)."""
        check_is_fitted(self)
        # Empty where training diverged in its first epoch (then the reason says so).
        curve = getattr(self, "loo_bound_curve_", None) or [math.nan]
        return nan_with_reason(self, "bound", curve[-1])

    @property
    def loo_estimate_(self) -> float:
        """Estimate (not a bound) of the leave-one-out error of importance weights
        (NaN, with a warning, where it is not available; ``loo_reason_`` says why)."""
        check_is_fitted(self)
        return nan_with_reason(self, "estimate", getattr(self, "_loo_estimate", math.nan))

    def _ran_out_of_epochs(self, n_before: int) -> bool:
        stopper = dict(self.net_.callbacks_)["stopping"]
        return len(self.net_.history) - n_before >= self.max_iter and (
            stopper.misses_ < stopper.patience
        )

    # ----------------------------------------------------------------- prediction
    def _validate_training_data(self, X, y, reset: bool) -> tuple[np.ndarray, np.ndarray]:
        """Validate the training data; return X as a float array whose first dimension
        indexes samples (the module's input) and y as an array."""
        return validate_data(
            self,
            X,
            y,
            reset=reset,
            dtype=(np.float64, np.float32),
            multi_output=self._supports_multilabel,
        )

    def _validate_input(self, X) -> np.ndarray:
        """Validate the input of a prediction method like the training data."""
        return validate_data(self, X, reset=False, dtype=(np.float64, np.float32))

    def _forward(self, X, module: nn.Module | None = None) -> torch.Tensor:
        """Outputs of the fitted module (or of ``module``, a copy with other weights) at
        validated ``X``."""
        check_is_fitted(self)
        module = self.net_.module_ if module is None else module
        X = self._validate_input(X)
        param = next(module.parameters())
        X_t = torch.as_tensor(X, dtype=param.dtype, device=param.device)
        return eval_forward(module, X_t)

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
        output = self._forward(X)
        return self.net_.criterion_.decision(output).cpu().numpy()

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
        output = self._forward(X)
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
        output = self._forward(X)
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
        tags.classifier_tags.multi_label = self._supports_multilabel
        return tags
