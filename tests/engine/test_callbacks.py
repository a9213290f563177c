"""skorch callbacks passed through ``callbacks``: they act under every optimizer (importance
weights, which step without ``optimizer.step()``, and Adam), see the epoch's records,
leave the estimator's parameters as they were, and pickle with the fitted estimator."""

from __future__ import annotations

import collections
import pickle
import threading

import numpy as np
import pytest
import torch
from sklearn.base import BaseEstimator, clone
from sklearn.datasets import make_classification, make_regression
from sklearn.metrics import accuracy_score
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import _get_check_estimator_ids, parametrize_with_checks
from skorch.callbacks import Callback, Checkpoint, EpochScoring, ProgressBar, TensorBoard
from skorch.utils import to_numpy

from sklearn_iw import IWLogisticRegression, IWMLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

OPTIMIZERS = ("importance_weights", "adam")
X, Y = make_classification(120, 5, random_state=0)


def _logistic(optimizer: str, callbacks: list, **params) -> IWLogisticRegression:
    return IWLogisticRegression(
        optimizer=optimizer, max_iter=5, callbacks=callbacks, random_state=0, **params
    )


def _accuracy_now(net, dataset, y=None) -> float:
    """The accuracy of the net's weights at the end of the epoch (no cached outputs)."""
    return accuracy_score(to_numpy(dataset.y), net.predict(dataset))


class Hooks(Callback):
    """Counts the hooks that fire and keeps what the last epoch and batch saw."""

    def __init__(self, resource=None):
        self.resource = resource

    def initialize(self):
        self.calls_ = collections.Counter()
        return self

    def on_epoch_end(self, net, **kwargs):
        self.calls_["on_epoch_end"] += 1
        self.epoch_keys_ = set(net.history[-1])

    def on_batch_end(self, net, training=None, **kwargs):
        self.calls_["on_batch_end", training] += 1
        if training:
            self.batch_keys_ = set(kwargs)

    def on_grad_computed(self, net, named_parameters, **kwargs):
        self.calls_["on_grad_computed"] += 1


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_epoch_scoring_records_the_accuracy_of_each_epoch(optimizer):
    # One batch an epoch: the cached outputs of epoch e are those of the weights that
    # epoch e - 1 ended with; the first epoch starts at zero weights (class 0 everywhere).
    est = _logistic(
        optimizer,
        [
            EpochScoring("accuracy", on_train=True),
            EpochScoring(
                _accuracy_now,
                on_train=True,
                use_caching=False,
                lower_is_better=False,
                name="accuracy_now",
            ),
        ],
        batch_size="full",
    ).fit(X, Y)
    history = est.net_.history
    assert len(history) == 5
    assert history[0, "accuracy"] == np.mean(Y == 0)
    assert history[1:, "accuracy"] == history[:-1, "accuracy_now"]
    assert history[-1, "accuracy_now"] == accuracy_score(Y, est.predict(X))
    assert "accuracy_best" in history[-1]


def test_scoring_on_the_validation_set_scores_the_held_out_part():
    Xr, yr = make_regression(150, 4, noise=5.0, random_state=0)
    scoring = EpochScoring("r2", lower_is_better=False)  # on the validation set
    reg = IWMLPRegressor(hidden_layer_sizes=(8,), max_iter=4, early_stopping=True, random_state=0)
    history = reg.set_params(callbacks=[scoring]).fit(Xr, yr / yr.std()).net_.history
    # scikit-learn's r2_score agrees with the estimator's own validation score.
    np.testing.assert_allclose(history[:, "r2"], history[:, "valid_score"], rtol=1e-5)
    # Without early stopping there is no validation set to score.
    history = reg.set_params(early_stopping=False).fit(Xr, yr / yr.std()).net_.history
    assert "r2" not in history[-1]


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_hooks_and_records_the_callbacks_see(optimizer):
    est = _logistic(optimizer, [Hooks()], batch_size=40, early_stopping=True).fit(X, Y)
    hooks = dict(est.net_.callbacks_)["Hooks"]
    assert {"epoch", "dur", "train_loss", "valid_loss", "valid_score"} <= hooks.epoch_keys_
    assert hooks.calls_["on_epoch_end"] == len(est.net_.history)
    steps = hooks.calls_["on_batch_end", True]
    assert steps == sum(est.net_.history[:, "train_batch_count"])
    assert hooks.calls_["on_batch_end", False] == len(est.net_.history)
    if optimizer == "importance_weights":
        # The step applies the importance-weighted gradient inside the optimizer.
        assert hooks.calls_["on_grad_computed"] == 0
        assert "sample_alpha" in hooks.batch_keys_
    else:
        assert hooks.calls_["on_grad_computed"] == steps


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_the_users_callbacks_run_in_the_epoch_that_stops_training(optimizer):
    # No epoch improves the loss by tol: the stopping rule ends the third epoch.
    est = _logistic(
        optimizer, [EpochScoring("accuracy", on_train=True)], tol=1e9, n_iter_no_change=2
    ).fit(X, Y)
    assert len(est.net_.history) == 3
    assert all("accuracy" in row for row in est.net_.history)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_progress_bar_counts_the_batches(optimizer, capsys):
    est = _logistic(optimizer, [ProgressBar()], batch_size=40).fit(X, Y)
    assert "0/3 [" in capsys.readouterr().err  # 120 samples in batches of 40
    # The fitted estimator pickles (tqdm's bar is dropped) and its copy predicts alike.
    copy = pickle.loads(pickle.dumps(est))
    assert isinstance(dict(copy.net_.callbacks_)["ProgressBar"], ProgressBar)
    np.testing.assert_array_equal(copy.predict_proba(X), est.predict_proba(X))


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_checkpoint_writes_files_that_load(optimizer, tmp_path):
    checkpoint = Checkpoint(monitor="train_loss_best", dirname=str(tmp_path))
    est = _logistic(optimizer, [checkpoint]).fit(X, Y)
    assert est.net_.history[-1, "event_cp"]  # the loss fell in every epoch
    files = {"params.pt", "optimizer.pt", "criterion.pt", "history.json"}
    assert files <= {path.name for path in tmp_path.iterdir()}
    # Another fit's net takes the saved weights, optimizer state and history.
    other = clone(est).set_params(callbacks=None, max_iter=1).fit(X, Y).net_
    other.load_params(checkpoint=checkpoint)
    assert len(other.history) == len(est.net_.history)
    for name, tensor in est.net_.module_.state_dict().items():
        torch.testing.assert_close(other.module_.state_dict()[name], tensor, rtol=0, atol=0)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_tensorboard_writes_events(optimizer, tmp_path):
    pytest.importorskip("tensorboard")
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(tmp_path))
    _logistic(optimizer, [TensorBoard(writer)]).fit(X, Y)
    assert any(path.name.startswith("events.out.tfevents") for path in tmp_path.iterdir())


def test_fitting_leaves_the_callbacks_parameter_as_it_was():
    # The lock stands for a TensorBoard writer: a parameter that cannot be copied.
    lock = threading.Lock()
    scoring, hooks = EpochScoring("accuracy", on_train=True), Hooks(resource=lock)
    est = _logistic("importance_weights", [scoring, ("hooks", hooks)])
    state = [dict(vars(scoring)), dict(vars(hooks))]
    est.fit(X, Y)
    assert [vars(scoring), vars(hooks)] == state
    fitted = dict(est.net_.callbacks_)
    assert fitted["EpochScoring"] is not scoring and fitted["hooks"] is not hooks
    assert fitted["hooks"].resource is lock
    assert est.get_params()["callbacks"] == [scoring, ("hooks", hooks)]
    # A continued fit goes on with the callbacks it trained; a new fit makes new ones.
    est.set_params(warm_start=True).fit(X, Y)
    assert dict(est.net_.callbacks_)["hooks"] is fitted["hooks"]
    assert fitted["hooks"].calls_["on_epoch_end"] == len(est.net_.history) == 10
    est.set_params(warm_start=False).fit(X, Y)
    assert dict(est.net_.callbacks_)["hooks"] is not fitted["hooks"]


def test_clone_get_params_and_set_params():
    scoring = EpochScoring("accuracy", on_train=True)
    est = IWLogisticRegression(callbacks=[scoring, ("bar", ProgressBar())])
    copy = clone(est)
    (cloned_scoring, (name, cloned_bar)) = copy.callbacks
    assert cloned_scoring is not scoring and name == "bar"
    assert cloned_scoring.get_params() == scoring.get_params()
    assert isinstance(cloned_bar, ProgressBar)
    # The list holds no nested parameters.
    assert not any(key.startswith("callbacks__") for key in est.get_params(deep=True))
    est.set_params(callbacks=[("score", EpochScoring("f1", on_train=True))], max_iter=2)
    names = [name for name, _ in est.fit(X, Y).net_.callbacks_]
    assert "score" in names and "bar" not in names
    assert "f1" in est.net_.history[-1]
    assert clone(est).set_params(callbacks=None).fit(X, Y).n_iter_ == 2


@pytest.mark.parametrize(
    ("callbacks", "message"),
    [
        (("no", "list"), "must be an instance of 'list' or None"),
        (["accuracy"], "element 0 is 'accuracy'"),
        ([ProgressBar], r"an instance is needed: ProgressBar\(\)"),
        ([(1, ProgressBar())], "element 0 is"),
        ([("stopping", ProgressBar())], "'stopping' .* is taken by one of its own"),
        ([("bar", ProgressBar()), ("bar", ProgressBar())], "'bar' occurs more than once"),
        ([("ProgressBar", ProgressBar()), ProgressBar()], "'ProgressBar' occurs more"),
    ],
)
def test_bad_callbacks_raise_before_training(callbacks, message):
    est = IWLogisticRegression(callbacks=callbacks)
    with pytest.raises(InvalidParameterError, match=message):
        est.fit(X, Y)
    assert not hasattr(est, "net_")


def test_every_name_of_the_engines_own_callbacks_is_refused():
    est = IWLogisticRegression(max_iter=1, early_stopping=True, verbose=1).fit(X, Y)
    for name, _ in est.net_.callbacks_:
        with pytest.raises(InvalidParameterError, match="is taken by one of its own"):
            clone(est).set_params(callbacks=[(name, ProgressBar())]).fit(X, Y)


# The estimators' own ids would show the callbacks' memory addresses, which differ
# between pytest-xdist's workers (which must collect the same tests).
_CHECKS = parametrize_with_checks(
    [
        IWLogisticRegression(
            max_iter=20, random_state=0, callbacks=[EpochScoring("accuracy", on_train=True)]
        ),
        IWMLPRegressor(
            hidden_layer_sizes=(8,),
            max_iter=20,
            random_state=0,
            callbacks=[EpochScoring("r2", on_train=True, lower_is_better=False)],
        ),
    ]
)


def _check_id(value) -> str:
    if isinstance(value, BaseEstimator):
        return type(value).__name__
    return _get_check_estimator_ids(value)


@pytest.mark.parametrize(*_CHECKS.args, ids=_check_id)
def test_sklearn_compatible_with_callbacks(estimator, check):
    check(estimator)
