"""The task-independent base of every estimator: parameters, validation, the engine.

:class:`BaseIWEstimator` holds what classifiers and regressors share — the common
parameters and their validation, the optimizer and schedule, seeding, the validation
split, building and feeding the engine, and the fitted-attribute bookkeeping (history,
leave-one-out). The task layers (``_classification.py``, ``_regression.py``) add the
targets, the losses and the prediction methods; concrete estimators add their torch
module and defaults, nothing else.
"""

from __future__ import annotations

import math
import threading
import warnings
from functools import partial
from numbers import Integral, Real
from typing import NamedTuple

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, InvalidParameterError, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data
from skorch.callbacks import Callback, PrintLog
from torch import nn

from ..engine._callbacks import ContinuingLRScheduler, ValidScore, _build_schedule
from ..engine._data import Feed, TensorData, eval_forward, sample_keys, shared_tensor
from ..engine._engine import TrainingEngine
from ..engine._stopping import BestEpochWeights, EpochStopping
from ..engine._threads import compute_threads, forward_work
from ..loo._attributes import LeaveOneOutRecord, record_fit
from ..loo._recorder import Checkpoint, LeaveOneOutRecorder, ResumeFrom
from ..loo._validity import nan_with_reason
from ..optim._registry import (
    OPTIMIZERS,
    SCHEDULES,
    resolve_optimizer,
    resolve_schedule,
)
from ..optim._schedules import Exponential, ScheduleSpec
from ..optim._spec import OptimizerSpec
from ..optim.iw._importance_weights import ImportanceWeights

_DEVICES = ("auto", "cpu", "cuda")
# Held while a fit seeds torch's global generator to initialise its module.
_GLOBAL_RNG_LOCK = threading.Lock()


# The parameters that take a name or a spec object: the registry of the names and the
# spec an error message suggests for nested parameters on a name that does not resolve.
_SPEC_PARAMETERS: dict[str, tuple[dict, type[BaseEstimator]]] = {
    "optimizer": (OPTIMIZERS, ImportanceWeights),
    "lr_schedule": (SCHEDULES, Exponential),
}


def _noop(*args, **kwargs) -> None:
    """Output sink that prints nothing (skorch callbacks take a ``sink``)."""


# Names of the engine's callbacks: skorch's defaults and the estimator's (_make_engine).
_ENGINE_CALLBACKS = (
    "epoch_timer",
    "train_loss",
    "valid_loss",
    "print_log",
    "valid_score",
    "lr_schedule",
    "loo",
    "stopping",
    "keep_best",
    "resume",
)


def _check_callbacks(callbacks: list, owner: str) -> None:
    """Raise ``InvalidParameterError`` unless every element of ``callbacks`` is a skorch
    ``Callback`` instance or a ``(name, Callback)`` tuple whose name is unique and none of
    the engine's own (an unnamed callback is named by its class, as skorch names it)."""
    names, given = [], []
    for position, item in enumerate(callbacks):
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
            name, callback = item
            given.append(name)
        else:
            callback = item
            name = type(callback).__name__
        if not isinstance(callback, Callback):
            hint = (
                f" (an instance is needed: {callback.__name__}())"
                if isinstance(callback, type) and issubclass(callback, Callback)
                else ""
            )
            raise InvalidParameterError(
                f"The 'callbacks' parameter of {owner} must be a list of skorch Callback "
                f"instances or (name, Callback) tuples; element {position} is {item!r}"
                f"{hint}."
            )
        if name in _ENGINE_CALLBACKS:
            raise InvalidParameterError(
                f"The callback name {name!r} in the 'callbacks' parameter of {owner} is "
                f"taken by one of its own callbacks ({', '.join(_ENGINE_CALLBACKS)}): "
                "choose another."
            )
        names.append(name)
    for name in given:
        # skorch numbers unnamed callbacks of one class apart, never a name given to it.
        if names.count(name) > 1:
            raise InvalidParameterError(
                f"The callback name {name!r} occurs more than once in the 'callbacks' "
                f"parameter of {owner}: give each callback its own name."
            )


def _renewed(item: Callback | tuple[str, Callback]) -> Callback | tuple[str, Callback]:
    """A new instance of the callback (of a ``(name, callback)`` tuple, under its name)
    with the same parameters, untouched by earlier fits.

    skorch initialises and trains the callback instances it is given; the estimator's
    ``callbacks`` must stay as they were set. The parameters are shared, not copied: a
    TensorBoard writer or a logger's run is where the callback writes, and holds threads
    and files that cannot be copied.
    """
    if isinstance(item, tuple):
        return item[0], _renewed(item[1])
    return type(item)(**item.get_params(deep=False))


class FitPlan(NamedTuple):
    """What one fit call trains on and with (:meth:`BaseIWEstimator._plan_fit`).

    Attributes
    ----------
    feed : Feed
        The tensors and how to feed them.
    spec : OptimizerSpec
        The optimizer.
    device : torch.device
        The training device.
    dtype : torch.dtype
        The floating-point dtype of the weights.
    sample_shape : tuple of int
        The shape of one input sample (features, or steps and features).
    seed : int
        The seed of this call (module initialisation, batch order, dropout masks).
    """

    feed: Feed
    spec: OptimizerSpec
    device: torch.device
    dtype: torch.dtype
    sample_shape: tuple
    seed: int


class BaseIWEstimator(BaseEstimator):
    """Base class of the package's estimators; not for direct use.

    Task layers define the targets (:meth:`_encode_targets`, :meth:`_sample_weights`,
    :meth:`_n_outputs`, :meth:`_make_criterion`, :meth:`_stratify`); concrete estimators
    define ``__init__`` (their parameters plus the common ones of :func:`~._docs.parameters_doc`)
    and :meth:`_build_module`.
    """

    # Whether y may have several columns (multilabel classification, multi-output
    # regression).
    _multi_output = False
    # The parameters every estimator shares; subclasses add theirs with
    # ``{**Base._parameter_constraints, ...}``.
    _parameter_constraints: dict = {
        "optimizer": [StrOptions(set(OPTIMIZERS)), OptimizerSpec],
        "lr_schedule": [StrOptions({"auto", *SCHEDULES}), ScheduleSpec],
        "batch_size": [StrOptions({"auto", "full"}), Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, math.inf, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "alpha": [Interval(Real, 0, math.inf, closed="left")],
        "update_clip": [Interval(Real, 0, math.inf, closed="neither"), None],
        "clip_norm": [Interval(Real, 0, math.inf, closed="neither"), None],
        "device": [StrOptions(set(_DEVICES))],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "callbacks": [list, None],
    }

    # Hyperparameters of the optimizers named by a string that differ for this estimator
    # from the spec's defaults (a spec object is used as it is).
    _optimizer_defaults: dict = {}
    # Schedules that lr_schedule='auto' gives an optimizer in this estimator instead of
    # the spec's default_schedule, by optimizer name.
    _schedule_defaults: dict = {}

    def _build_module(self, n_features: int, n_outputs: int) -> nn.Module:
        """Return the freshly initialised torch module (float32, on the CPU)."""
        raise NotImplementedError

    def _resolve_optimizer(self) -> OptimizerSpec:
        """The spec of ``optimizer``, with this estimator's defaults for a plain name."""
        spec = resolve_optimizer(self.optimizer)
        if isinstance(self.optimizer, str):
            # Task layers and architectures each add theirs; subclasses override.
            for cls in reversed(type(self).__mro__):
                defaults = cls.__dict__.get("_optimizer_defaults", {})
                spec.set_params(**defaults.get(spec.name, {}))
            if spec.tol_parameter is not None:
                # L-BFGS converges at a gradient of at most tol (scikit-learn's MLP).
                spec.set_params(**{spec.tol_parameter: self.tol})
        return spec

    def set_params(self, **params) -> BaseIWEstimator:
        """Set the parameters of this estimator.

        As :meth:`sklearn.base.BaseEstimator.set_params`, except that nested parameters
        of ``optimizer`` and ``lr_schedule`` (``optimizer__C``) also work where the
        parameter is a name: the name turns into its spec, with this estimator's defaults
        for that name (the spec :meth:`fit` would use), and the nested parameters are set
        on it. Plain parameters are set first, so ``set_params(optimizer='adam',
        optimizer__lr=0.1)`` gives ``Adam(lr=0.1)``.

        Parameters
        ----------
        **params : dict
            Estimator parameters, ``<component>__<parameter>`` for nested ones.

        Returns
        -------
        self : estimator instance
            Estimator instance.

        Raises
        ------
        ValueError
            For an unknown parameter (nested ones name the spec's valid parameters), or a
            nested parameter on a name that is no optimizer (schedule).
        """
        nested = {name: {} for name in _SPEC_PARAMETERS}
        rest = {}
        for key, value in params.items():
            name, delim, sub_key = key.partition("__")
            if delim and name in nested:
                nested[name][sub_key] = value
            else:
                rest[key] = value
        # As BaseEstimator.set_params: plain parameters first, nested ones on what they set.
        super().set_params(**{key: value for key, value in rest.items() if "__" not in key})
        # The optimizer first: 'auto' resolves to the schedule of the optimizer set here.
        for name, sub_params in nested.items():
            if not sub_params:
                continue
            spec = getattr(self, name)
            if not isinstance(spec, BaseEstimator):
                spec = self._named_spec(name, sub_params)
            # On a spec resolved here, a failure leaves the parameter as it was.
            spec.set_params(**sub_params)
            setattr(self, name, spec)
        super().set_params(**{key: value for key, value in rest.items() if "__" in key})
        return self

    def _named_spec(self, name: str, sub_params: dict) -> BaseEstimator:
        """The spec that the name of parameter ``name`` (``optimizer`` or
        ``lr_schedule``) stands for in this estimator, for nested ``sub_params``."""
        value = getattr(self, name)
        cause = None
        if isinstance(value, str):
            try:
                if name == "optimizer":
                    return self._resolve_optimizer()
                return self._resolve_schedule(self._resolve_optimizer())
            except ValueError as exc:
                cause = exc
        registry, example = _SPEC_PARAMETERS[name]
        keys = sorted(sub_params)
        args = "..."
        # A spec class that has the parameters, the usual one where it does.
        for cls in (example, *registry.values()):
            if set(keys) <= set(cls._get_param_names()):
                example, args = cls, ", ".join(f"{key}=..." for key in keys)
                break
        why = f" ({str(cause).rstrip('.')})" if cause is not None else ""
        raise ValueError(
            f"Cannot set {', '.join(f'{name}__{key}' for key in keys)} on {name}={value!r}, "
            f"which is no spec and does not resolve to one{why}. To set nested parameters, "
            f"pass a spec object, e.g. {name}={example.__name__}({args})."
        ) from cause

    def _resolve_schedule(self, spec: OptimizerSpec) -> ScheduleSpec:
        """The schedule of ``lr_schedule``; 'auto' is the optimizer's ``default_schedule``."""
        if isinstance(self.lr_schedule, str) and self.lr_schedule == "auto":
            return resolve_schedule(self._schedule_defaults.get(spec.name, spec.default_schedule))
        return resolve_schedule(self.lr_schedule)

    def _lemma_obstacle(self) -> str | None:
        """What of this estimator's own settings breaks the leave-one-out lemma, or None."""
        return None

    def _set_fitted_weights(self) -> None:
        """Expose the module's weights as scikit-learn style numpy attributes."""

    # ----------------------------------------------------------------- task layer
    def _encode_targets(self, y, classes, first_call: bool) -> np.ndarray:
        """Validate ``y`` for the task, set the target attributes on the first call and
        return the encoded targets."""
        raise NotImplementedError

    def _target_dtype(self, dtype: torch.dtype) -> torch.dtype:
        """The dtype of the encoded targets for training in ``dtype``."""
        raise NotImplementedError

    def _n_outputs(self) -> int:
        """Number of outputs of the module."""
        raise NotImplementedError

    def _make_criterion(self) -> nn.Module:
        """The per-sample loss (see ``_losses.py``)."""
        raise NotImplementedError

    def _stratify(self, y_enc: np.ndarray) -> np.ndarray | None:
        """Labels to stratify the validation split by, or None."""
        return None

    def _sample_weights(self, X, y, y_enc, sample_weight) -> np.ndarray:
        """The per-sample weights of the fit (validated ``sample_weight``)."""
        weight = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
        if not weight.sum() > 0:
            raise ValueError("The sample weights sum to zero.")
        return weight

    # ----------------------------------------------------------------- validation
    def _check_params(self) -> None:
        """Validate the parameters against ``_parameter_constraints`` (raising
        scikit-learn's ``InvalidParameterError``), then what a constraint cannot express:
        the elements of ``callbacks`` and that a requested CUDA device exists."""
        self._validate_params()
        _check_callbacks(self.callbacks or [], type(self).__name__)
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

    # ----------------------------------------------------------------- fitting
    def fit(self, X, y, sample_weight=None):
        """Fit the model to data X and targets y.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets (labels, an indicator matrix for multilabel problems, or values).
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

    # ------------------------------------------- the leave-one-out protocol (loo/)
    def fit_with_checkpoints(self, X, y, sample_weight=None):
        """Fit as :meth:`fit` does, keeping a checkpoint of the run at the start of every
        epoch for the replays of :func:`~sklearn_iw.model_selection.leave_one_out`.

        Part of the leave-one-out protocol
        (:class:`~sklearn_iw.loo.LeaveOneOutEstimator`).

        Parameters
        ----------
        X : array-like
            Training data.
        y : array-like
            Target labels or values.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._check_params()
        return self._fit(X, y, sample_weight, classes=None, incremental=False, checkpoints=True)

    def fit_from_checkpoint(self, X, y, sample_weight, checkpoint: Checkpoint):
        """Train from ``checkpoint`` (a state of a run on these data) to the end of
        training, as a fresh fit seeded as that run was would.

        Part of the leave-one-out protocol
        (:class:`~sklearn_iw.loo.LeaveOneOutEstimator`).

        Parameters
        ----------
        X : array-like
            Training data.
        y : array-like
            Target labels or values.
        sample_weight : array-like of shape (n_samples,) or None
            Per-sample weights.
        checkpoint : Checkpoint
            The state to start from, already without any left-out sample.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._check_params()
        return self._fit(X, y, sample_weight, classes=None, incremental=False, resume=checkpoint)

    def predictions_from_outputs(self, outputs: torch.Tensor) -> np.ndarray:
        """What :meth:`predict` answers (labels or values) for module outputs.

        Part of the leave-one-out protocol
        (:class:`~sklearn_iw.loo.LeaveOneOutEstimator`).

        Parameters
        ----------
        outputs : torch.Tensor of shape (n_samples, n_outputs)
            Outputs of the fitted module (:meth:`module_outputs`).

        Returns
        -------
        predictions : ndarray
            Labels for classifiers, values for regressors.
        """
        return self._labels(self.net_.criterion_.predict(outputs).cpu().numpy())

    def loo_obstacle(self) -> str | None:
        """Which of this estimator's settings could let a sample that never acted on an
        update change the run (so that the leave-one-out lemma does not hold), or None.

        Part of the leave-one-out protocol
        (:class:`~sklearn_iw.loo.LeaveOneOutEstimator`).

        Returns
        -------
        reason : str or None
            A clause that completes "... is NaN: ".
        """
        if self.early_stopping:
            return "early_stopping holds out a validation split that depends on every sample"
        schedule = self._resolve_schedule(self.net_.optimizer_spec)
        if schedule.reads_training_loss:
            return f"the '{schedule.name}' schedule reacts to the training loss of every sample"
        return self._lemma_obstacle()

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
        resume: Checkpoint | None = None,
    ):
        """Plan the fit (:meth:`_plan_fit`), build the engine unless training continues,
        train, and set the fitted attributes."""
        plan = self._plan_fit(X, y, sample_weight, classes, incremental, resume)
        if not incremental:
            self.net_ = self._build_engine(plan, checkpoints, resume)
        n_epochs = self.max_iter if epochs is None else epochs
        if resume is not None:
            n_epochs -= resume.epoch
        engine, feed = self.net_, plan.feed
        n_before = len(engine.history)
        # Minibatch products are too small to share among threads (see _threads.py).
        with compute_threads(forward_work(engine.module_, (feed.batch_size, *plan.sample_shape))):
            engine.partial_fit(feed, None, epochs=n_epochs)
            self._record_history(n_before, len(feed.train))
            self._set_fitted_weights()
            if resume is None:  # a replay only serves its prediction of the left-out sample
                self._set_loo_attributes(record_fit(self, feed.train, incremental))
        if epochs is None and self._ran_out_of_epochs(n_before):
            warnings.warn(
                f"{type(self).__name__}: maximum iterations ({self.max_iter}) reached and the "
                "optimization hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=3,
            )
        return self

    def _plan_fit(
        self, X, y, sample_weight, classes, incremental: bool, resume: Checkpoint | None
    ) -> FitPlan:
        """Validate and encode the data, seed the fit and prepare what the engine is fed:
        the training (and validation) tensors, batch size, weight scale, L2 coefficient
        and the generators of the batch order and dropout masks."""
        X, y = self._validate_training_data(X, y, reset=not incremental)
        y_enc = self._encode_targets(y, classes, first_call=not incremental)
        weight = self._sample_weights(X, y, y_enc, sample_weight)
        device = self._device()
        dtype = torch.float64 if X.dtype == np.float64 else torch.float32
        if incremental:  # continued training keeps the dtype of the weights
            dtype = next(self.net_.module_.parameters()).dtype

        if not incremental:
            seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
            # A replay runs on as the run it resumes, seeded as that run was.
            self._seed = int(seed) if resume is None else resume.seed
            self.n_iter_ = 0
            self.t_ = 0
            self.loss_curve_ = []
            self.validation_scores_ = [] if self.early_stopping else None
        # Continued training keeps the optimizer it started with.
        spec = self.net_.optimizer_spec if incremental else self._resolve_optimizer()

        train_idx, valid_idx = self._split(y_enc)
        y_dtype = self._target_dtype(dtype)
        raw_train_weight = weight[train_idx]
        # The L2 coefficient of the objective (see alpha); a decoupled weight decay per
        # step must not depend on n.
        l2_coef = (
            self.alpha
            if spec.decoupled_weight_decay
            else self.alpha / float(raw_train_weight.sum())
        )
        if l2_coef > torch.finfo(dtype).max:
            raise ValueError(
                f"alpha / sum(sample_weight) = {l2_coef:.3g} overflows {dtype}: the L2 "
                "penalty would swamp the data. Scale sample_weight up or alpha down."
            )
        # Train on weights of mean 1 (the weighted mean loss does not change): tiny
        # weights would underflow in float32. Per-sample optimizers get them scaled back.
        weight_scale = float(raw_train_weight.mean())

        def tensors(index, keyed=False):
            # Without a validation split the index is every sample: a slice views X where
            # fancy indexing would copy it (training never writes to its inputs).
            rows = slice(None) if len(index) == len(y_enc) else index
            X_rows, y_rows = np.ascontiguousarray(X[rows]), y_enc[rows]
            # Keys hash the weights as given: their scale changes with the data set.
            keys, stand_in = sample_keys(X_rows, y_rows, weight[rows]) if keyed else (None, None)
            return TensorData(
                shared_tensor(X_rows, dtype, device),
                torch.as_tensor(y_rows, dtype=y_dtype, device=device),
                torch.as_tensor(weight[rows] / weight_scale, dtype=dtype, device=device),
                keys,
                stand_in,
            )

        seed = self._seed + self.n_iter_
        # Batch order and dropout masks come from generators of this fit, so fits running
        # in threads at the same time are independent and reproducible.
        feed = Feed(
            tensors(train_idx, keyed=spec.keyed_batches),
            tensors(valid_idx) if valid_idx is not None else None,
            batch_size=self._batch_size(len(train_idx), spec.full_batch),
            weight_scale=weight_scale,
            l2_coef=l2_coef,
            generator=torch.Generator().manual_seed(seed),
            dropout_generator=torch.Generator(device).manual_seed(seed + 1),
        )
        return FitPlan(feed, spec, device, dtype, X.shape[1:], seed)

    def _build_engine(
        self, plan: FitPlan, checkpoints: bool, resume: Checkpoint | None
    ) -> TrainingEngine:
        """Build the module (seeded) and the engine of a new fit, initialised."""
        # The initialisation draws from torch's global generator: seed it for this fit
        # alone, with other threads' fits kept out meanwhile.
        device = plan.device
        devices = [device.index or 0] if device.type == "cuda" else []
        with _GLOBAL_RNG_LOCK, torch.random.fork_rng(devices=devices):
            torch.manual_seed(plan.seed)
            module = self._build_module(plan.sample_shape[-1], self._n_outputs())
        engine = self._make_engine(module, plan.spec, device, plan.dtype, checkpoints, resume)
        return engine.initialize()

    def _split(self, y_enc):
        """Indices of the training and validation samples."""
        index = np.arange(len(y_enc))
        if not self.early_stopping:
            return index, None
        try:
            return train_test_split(
                index,
                test_size=self.validation_fraction,
                random_state=self._seed,
                stratify=self._stratify(y_enc),
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
        device,
        dtype,
        checkpoints: bool = False,
        resume: Checkpoint | None = None,
    ) -> TrainingEngine:
        schedule = self._resolve_schedule(spec)
        monitor = "valid_score" if self.early_stopping else "train_loss"
        sink = print if self.verbose else _noop
        callbacks = [
            *([("valid_score", ValidScore())] if self.early_stopping else []),
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
                EpochStopping(
                    monitor=monitor,
                    patience=self.n_iter_no_change,
                    tol=self.tol,
                    lower_is_better=not self.early_stopping,
                    runs_without_each_sample=spec.records_activity and not self.early_stopping,
                    sink=sink,
                ),
            ),
            # After the stopping rule, which it reads; the engine ends training once every
            # callback, the user's included, has seen the epoch.
            ("loo", LeaveOneOutRecorder(checkpoints=checkpoints)),
            *map(_renewed, self.callbacks or []),
            # Last: the others see the last epoch's weights when training ends.
            ("keep_best", BestEpochWeights(sink)),
        ]
        if resume is not None:  # last: after the others have set themselves up
            callbacks.append(("resume", ResumeFrom(resume)))
        return TrainingEngine(
            module.to(dtype=dtype),
            self._make_criterion(),
            optimizer_spec=spec,
            update_clip=self.update_clip,
            clip_norm=self.clip_norm,
            batch_seed=self._seed,
            max_epochs=self.max_iter,
            batch_size=1,  # each partial_fit sets its Feed's batch size
            train_split=None,
            callbacks=callbacks,
            device=device,
            verbose=int(self.verbose),
            warm_start=True,
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
            self.validation_scores_ += [float(row["valid_score"]) for row in rows]
            self.best_validation_score_ = max(self.validation_scores_, default=None)
            self.best_loss_ = None
        else:
            self.best_validation_score_ = None
            self.best_loss_ = min(self.loss_curve_, default=None)
        if self.net_.diverged_at_ is not None:
            keep_best = dict(self.net_.callbacks_)["keep_best"]
            kept = keep_best.kept_epoch_ + 1 if keep_best.restored_ else self.n_iter_
            warnings.warn(
                f"{type(self).__name__}: the optimizer diverged, the training loss (or its "
                f"gradient) became NaN or infinite in epoch {self.net_.diverged_at_}. Training "
                f"stopped and the weights after epoch {kept} were restored (0: the "
                "initial weights). "
                "Lower the learning rate (e.g. optimizer=SGD(lr=...) or optimizer__lr), "
                "standardize the features (StandardScaler), bound the steps with "
                "update_clip or clip_norm, or use an adaptive optimizer such as 'adam'.",
                ConvergenceWarning,
                stacklevel=4,
            )

    @property
    def loo_bound_(self) -> float:
        """Leave-one-out error bound of importance weights, at the weights the fit kept
        (NaN, with a warning, where it cannot hold: another optimizer, dropout, early
        stopping, ...; ``loo_reason_`` says why)."""
        check_is_fitted(self)
        return nan_with_reason(self, "bound", self._loo_record.bound)

    def _set_loo_attributes(self, record: LeaveOneOutRecord) -> None:
        """Keep the leave-one-out record of the last fit and set the attributes it gives."""
        self._loo_record = record
        self.loo_reason_ = record.reasons  # the same dict: settling the estimate updates it
        if record.activation_epoch is not None:
            self.importance_weights_ = record.importance_weights
            self.activation_epoch_ = record.activation_epoch
            self.support_ = record.support
            self.loo_bound_curve_ = record.bound_curve

    @property
    def loo_estimate_(self) -> float:
        """Estimate (not a bound) of the leave-one-out error of importance weights: the
        error rate of classifiers, the mean squared error of regressors (NaN, with a
        warning, where it is not available; ``loo_reason_`` says why)."""
        check_is_fitted(self)
        self._settle_estimate()
        return nan_with_reason(self, "estimate", self._loo_record.estimate)

    @property
    def loo_influence_(self) -> np.ndarray:
        """Estimated drop of each training sample's margin when it is left out (for
        regressors the growth of its residual's norm), behind ``loo_estimate_`` (computed
        with it, when first asked for)."""
        return self._loo_record_part("influence")

    def _loo_record_part(self, name: str):
        """The settled leave-one-out record's ``name``; AttributeError without
        importance weights."""
        check_is_fitted(self)
        if self._loo_record.influence is None:
            raise AttributeError(
                "leave-one-out outputs are estimated for optimizer='importance_weights' only."
            )
        self._settle_estimate()
        return getattr(self._loo_record, name)

    def _loo_outputs_as(self, view) -> np.ndarray:
        """``view`` of the estimated leave-one-out outputs, or of NaN outputs with the
        estimate's warning."""
        outputs = self._loo_record_part("outputs")
        if outputs is None or self.loo_reason_["estimate"] is not None:
            nan_with_reason(self, "estimate", math.nan)
            outputs = np.full((len(self._loo_record.influence), self._n_outputs()), math.nan)
        # Kept as numpy: a pickle of a model fitted on a GPU loads on a CPU-only machine.
        return view(torch.from_numpy(outputs)).numpy()

    def _loo_predictions(self) -> np.ndarray:
        """:meth:`predict`'s answers (labels, values) from the estimated leave-one-out
        outputs."""
        return self._labels(self._loo_outputs_as(self.net_.criterion_.predict))

    def _settle_estimate(self) -> None:
        """Settle the leave-one-out record's estimate on one torch and one BLAS thread, as
        a fit's steps: its Gram matrix and factorisation of the active samples took 0.53 s
        there, 0.80 s at the default threads and 0.85 s with torch's two threads alone
        (1787 digits samples, MLP(64), on the shared 2-core box)."""
        record = getattr(self, "_loo_record", None)
        if record is not None:
            with compute_threads(0.0):
                record.settle()

    def __getstate__(self) -> dict:
        """scikit-learn's state, with a pending leave-one-out estimate computed first (it
        holds the training tensors, which a pickle should not carry)."""
        self._settle_estimate()
        return super().__getstate__()

    def _ran_out_of_epochs(self, n_before: int) -> bool:
        stopper = dict(self.net_.callbacks_)["stopping"]
        return len(self.net_.history) - n_before >= self.max_iter and not stopper.stopped_

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
            multi_output=self._multi_output,
        )

    def _validate_input(self, X) -> np.ndarray:
        """Validate the input of a prediction method like the training data."""
        return validate_data(self, X, reset=False, dtype=(np.float64, np.float32))

    def module_outputs(self, X, module: nn.Module | None = None) -> torch.Tensor:
        """Outputs of the fitted module (or of ``module``, a copy with other weights) at
        ``X``, validated as the prediction methods validate it.

        Part of the leave-one-out protocol
        (:class:`~sklearn_iw.loo.LeaveOneOutEstimator`).

        Parameters
        ----------
        X : array-like
            Input data.
        module : torch.nn.Module or None, default=None
            A module of the fitted architecture with other weights.

        Returns
        -------
        outputs : torch.Tensor of shape (n_samples, n_outputs)
            On the module's device.
        """
        check_is_fitted(self)
        module = self.net_.module_ if module is None else module
        X = self._validate_input(X)
        param = next(module.parameters())
        X_t = torch.as_tensor(X, dtype=param.dtype, device=param.device)
        with compute_threads(forward_work(module, X_t.shape)):
            return eval_forward(module, X_t)
