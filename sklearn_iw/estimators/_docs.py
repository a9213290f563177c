"""The numpydoc entries every estimator shares, written once.

:func:`parameters_doc` and :func:`attributes_doc` fill the common parameters' and fitted
attributes' entries with an estimator's defaults and its task layer's parts; the
optimizer and schedule names come from the registry.
"""

from __future__ import annotations

import textwrap

from ..optim._registry import OPTIMIZERS, SCHEDULES, quoted_names

_PARAMETERS_DOC = """\
optimizer : str or OptimizerSpec, default={{optimizer!r}}
{optimizer_text}
lr_schedule : str or ScheduleSpec, default='auto'
{schedule_text}
batch_size : 'auto', 'full' or int, default='auto'
    Minibatch size; 'auto' is ``min(200, n_samples)``, 'full' the whole training
    set. Full-batch optimizers ('gd', 'lbfgs', ...) ignore it.
max_iter : int, default={{max_iter}}
    Maximum number of epochs.
tol : float, default=1e-4
    Minimum improvement of the training loss (of the validation score with
    ``early_stopping``) that resets the ``n_iter_no_change`` counter.
n_iter_no_change : int, default=10
    Stop after this many epochs without an improvement of at least ``tol``. Either way
    the fit ends with the weights of its best epoch (the lowest training loss, or the
    best validation score with ``early_stopping``).
early_stopping : bool, default=False
    Hold out ``validation_fraction`` of the training data, stop when its score
    ({{score}}) stops improving, and restore the best epoch's weights.
validation_fraction : float, default=0.1
    Fraction of the training data held out with ``early_stopping``.
alpha : float, default={{alpha}}
    L2 penalty: the objective is the weighted mean loss plus
    ``alpha / (2 * sum(sample_weight)) * sum ||W||^2`` over weight matrices
    (biases are not penalised).{{alpha_note}}
    With ``optimizer='importance_weights'`` it is a decoupled weight decay per step,
    ``W <- W / (1 + lr * alpha)`` (the penalty's proximal step: stable for any
    ``alpha``), independent of the number of samples (which the
    leave-one-out bound needs). A coefficient ``alpha / sum(sample_weight)`` beyond
    the range of the training dtype raises a ``ValueError``.
{{task_parameters}}update_clip : float or None, default=None
    Clip each coordinate of every update to ``[-update_clip, update_clip]``: the
    elementwise cut of the reference implementation of importance weights (the dW cut
    of Hochreiter and Obermayer's jLSTM). It bounds each weight's move and changes the
    update's direction where it cuts.
clip_norm : float or None, default=None
    Scale every update down to an L2 norm of at most ``clip_norm`` over all trainable
    parameters together (global norm clipping, Pascanu et al. 2013), keeping its
    direction. It is applied to the update the optimizer makes (learning rate, momentum
    and weight decay included), so it holds for every optimizer; for plain 'sgd' it is
    Pascanu's gradient clipping at ``clip_norm / lr``. With ``update_clip`` too, the
    elementwise cut comes first and the norm is measured on the cut update: a few
    outlying coordinates are cut alone rather than shrinking the whole step, and the
    step taken satisfies both bounds.
device : {{{{'auto', 'cpu', 'cuda'}}}}, default='auto'
    Where to train; 'auto' uses CUDA when available.
random_state : int, RandomState instance or None, default=None
    Seeds weight initialisation, shuffling and dropout.
verbose : int, default=0
    Print one line per epoch when positive.
warm_start : bool, default=False
    Continue from the previous solution when ``fit`` is called again.
callbacks : list of skorch Callback or (str, Callback) tuples, default=None
    skorch callbacks for the training loop, as skorch's own ``callbacks`` argument:
    ``EpochScoring``, ``ProgressBar``, ``Checkpoint``, ``TensorBoard``, ... Each fit
    trains new instances with the same parameters, so the ones given here stay as they
    are; the trained ones are in ``net_.callbacks_`` (``warm_start`` and
    ``partial_fit`` keep those of the fit they continue). They run after the epoch's
    records (``epoch``, ``dur``, ``train_loss``, ``event_lr``, and ``valid_loss`` and
    ``valid_score`` with ``early_stopping``) and before the stopping rule. A name may
    not be one of the estimator's own callbacks' ('stopping', 'loo', ...). Scoring
    callbacks score against the encoded targets: class indices 0 to n_classes - 1 (a
    0/1 matrix for multilabel targets), or the regression targets; on the validation
    set (skorch's default ``on_train=False``) they need ``early_stopping=True``, which
    holds it out. Every optimizer fires ``on_train_*``, ``on_epoch_*`` and
    ``on_batch_*``. Gradient optimizers fire ``on_grad_computed`` after each gradient
    of the batch objective (L2 penalty included): once a step, at every evaluation of
    the line search for 'cg', 'bfgs' and 'lbfgs'; 'newton' differentiates the objective
    itself and leaves the parameters' ``.grad`` unset there. Importance weights do not
    fire ``on_grad_computed``: their update, the importance-weighted sum of the
    per-sample gradients, is computed and applied inside the optimizer, so there is no
    gradient for a callback to read or clip before it (``clip_norm`` and
    ``update_clip`` bound it); their ``on_batch_end`` gets the batch's importance
    weights as ``sample_alpha``.
"""

_ATTRIBUTES_DOC = """\
{task_attributes}n_features_in_ : int
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
    Smallest training loss, that of the epoch whose weights the fit keeps; None with
    ``early_stopping``.
validation_scores_ : list of float or None
    Validation score ({score}) of each epoch with ``early_stopping``, else None.
best_validation_score_ : float or None
    Best validation score with ``early_stopping``, else None.
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
{loo_attributes}loo_reason_ : dict of str to str or None
    Why each leave-one-out quantity ('bound', 'estimate', 'replay') is not available
    (NaN) or, for 'replay', why ``leave_one_out`` must refit every sample from scratch;
    None where it holds.
"""


def parameters_doc(
    *,
    optimizer: str,
    max_iter: int,
    alpha: float,
    score: str,
    alpha_note: str = "",
    task_parameters: str = "",
) -> str:
    """The numpydoc entries of the parameters every estimator shares.

    Parameters
    ----------
    optimizer, max_iter, alpha : str, int, float
        The estimator's defaults.
    score : str
        What the validation score is (accuracy, R^2).
    alpha_note : str, default=''
        A sentence appended to ``alpha``'s entry.
    task_parameters : str, default=''
        Entries of the task layer's parameters (numpydoc, one or more lines each).

    Returns
    -------
    doc : str
    """
    others = {name: spec for name, spec in OPTIMIZERS.items() if not spec.per_sample}
    optimizer_text = (
        "The training rule: 'importance_weights' (each minibatch step solves a small QP "
        f"over the per-sample gradients, see ``ImportanceWeights``), {quoted_names(others)}, "
        "or a spec object from :mod:`sklearn_iw.solvers` such as ``Adam(lr=1e-3)``. Its "
        "hyperparameters are tunable as nested parameters (``optimizer__C`` in "
        "``set_params`` and ``GridSearchCV``), on a name too: setting one turns the name "
        "into its spec with this estimator's defaults, then sets the parameter "
        "(``set_params(optimizer__C=0.5)`` on ``optimizer='importance_weights'`` gives "
        "``ImportanceWeights(C=0.5)`` with this estimator's ``p``)."
    )
    schedule_text = (
        f"Learning-rate schedule stepped once per epoch: {quoted_names(SCHEDULES)}, or a "
        "spec object. Nested parameters (``lr_schedule__gamma``) work on names, 'auto' "
        "included, as for ``optimizer``."
    )
    schedule_text += (
        f" 'auto' (the default) is the optimizer's own: {OPTIMIZERS['sgd'].default_schedule!r} "
        "for 'sgd' and 'gd' (a "
        "fixed step suits one scale of the features; halving it when the loss stops "
        "falling rescues a step too large for unscaled data), 'constant' for the others, "
        "except importance weights in the linear models: 'inverse_time' (their convex loss "
        "has one optimum, which a constant step circles where the classes overlap)."
    )
    template = _PARAMETERS_DOC.format(
        optimizer_text=textwrap.fill(
            optimizer_text, 88, initial_indent="    ", subsequent_indent="    "
        ),
        schedule_text=textwrap.fill(
            schedule_text, 88, initial_indent="    ", subsequent_indent="    "
        ),
    )
    return template.format(
        optimizer=optimizer,
        max_iter=max_iter,
        alpha=alpha,
        score=score,
        alpha_note=alpha_note,
        task_parameters=task_parameters,
    )


def attributes_doc(*, score: str, task_attributes: str = "", loo_attributes: str = "") -> str:
    """The numpydoc entries of the fitted attributes every estimator shares.

    Parameters
    ----------
    score : str
        What the validation score is (accuracy, R^2).
    task_attributes : str, default=''
        Entries of the task layer's attributes, listed first.
    loo_attributes : str, default=''
        Entries of the task layer's leave-one-out attributes.

    Returns
    -------
    doc : str
    """
    return _ATTRIBUTES_DOC.format(
        score=score, task_attributes=task_attributes, loo_attributes=loo_attributes
    )
