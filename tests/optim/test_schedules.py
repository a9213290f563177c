"""Learning-rate schedules: the lr of every epoch against the formula written out here.

Each fit records the learning rate used in epoch ``t`` (``t = 0, 1, ...``) in
``net_.history[:, 'event_lr']``; the expected values are computed independently with
``math``/numpy from the documented formulas (torch's definitions for SGDR, one-cycle and
ReduceLROnPlateau transcribed by hand).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_iw import IWLogisticRegression
from sklearn_iw.solvers import (
    SCHEDULES,
    SGD,
    Constant,
    Cosine,
    CosineRestarts,
    Exponential,
    InverseSqrt,
    InverseTime,
    Linear,
    OneCycle,
    Plateau,
    ScheduleSpec,
    resolve_schedule,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

LR0 = 0.1
N_EPOCHS = 12


def data():
    return make_classification(
        n_samples=60, n_features=3, n_informative=3, n_redundant=0, random_state=0
    )


def flat_data():
    """Every point appears once with each label: w = 0 is optimal, the loss is flat.

    The zero-initialised logistic model has a zero full-batch gradient, so the training
    loss stays at log(2) for any learning rate: a forced plateau.
    """
    A = np.random.RandomState(0).normal(size=(30, 3))
    return np.vstack([A, A]), np.r_[np.ones(30, dtype=int), np.zeros(30, dtype=int)]


def make_estimator(lr_schedule, max_iter=N_EPOCHS, lr=LR0, **kwargs):
    # tol=0 and a patience longer than the fit: every epoch runs.
    params = dict(
        optimizer=SGD(lr=lr),
        lr_schedule=lr_schedule,
        batch_size="full",
        max_iter=max_iter,
        tol=0.0,
        n_iter_no_change=max_iter + 100,
        random_state=0,
    )
    params.update(kwargs)
    return IWLogisticRegression(**params)


def recorded_lrs(est):
    return np.array(est.net_.history[:, "event_lr"], dtype=float)


# --------------------------------------------------------------------------- formulas
def constant(t, lr0):
    return lr0


def exponential(t, lr0, gamma):
    return lr0 * gamma**t


def inverse_time(t, lr0, decay):
    return lr0 / (1.0 + decay * t)


def inverse_sqrt(t, lr0, decay):
    return lr0 / math.sqrt(1.0 + decay * t)


def linear(t, lr0, end_factor, horizon):
    return lr0 * (1.0 + (end_factor - 1.0) * min(t, horizon) / horizon)


def cosine(t, lr0, eta_min, horizon):
    return eta_min + (lr0 - eta_min) * (1.0 + math.cos(math.pi * t / horizon)) / 2.0


def cosine_restarts(t, lr0, T_0, T_mult, eta_min):  # noqa: N803
    """SGDR: cycles of length T_0, T_0 * T_mult, ...; cosine within each cycle."""
    start, length = 0, T_0
    while t >= start + length:
        start += length
        length *= T_mult
    t_cur = t - start
    return eta_min + (lr0 - eta_min) * (1.0 + math.cos(math.pi * t_cur / length)) / 2.0


def one_cycle(t, lr0, pct_start, div_factor, final_div_factor, max_iter):
    """torch's OneCycleLR, 'cos' annealing, two phases, stepped once per epoch.

    total_steps = max_iter + 1; phase 1 ends at step pct_start * total_steps - 1 (rising
    from lr0 / div_factor to lr0), phase 2 at total_steps - 1 (falling to
    lr0 / (div_factor * final_div_factor)).
    """
    total = max_iter + 1
    initial = lr0 / div_factor
    final = initial / final_div_factor
    end_1 = pct_start * total - 1.0
    end_2 = total - 1.0

    def anneal(start, end, pct):
        return end + (start - end) / 2.0 * (1.0 + math.cos(math.pi * pct))

    if t <= end_1:
        return anneal(initial, lr0, t / end_1)
    return anneal(lr0, final, (t - end_1) / (end_2 - end_1))


def plateau_forced(t, lr0, factor, patience, min_lr=0.0):
    """lr of epoch t when no epoch ever improves on the first one.

    Epoch 0 sets the best loss; every later epoch is 'bad'; after patience + 1 bad epochs
    the lr is multiplied by factor (from the next epoch on) and the count restarts. So the
    lr drops at epochs 1 + k * (patience + 1), k = 1, 2, ...
    """
    drops = sum(1 for k in range(1, t + 1) if 1 + k * (patience + 1) <= t)
    return max(lr0 * factor**drops, min_lr) if drops else lr0


def plateau_reference(losses, lr0, factor, patience, threshold, min_lr=0.0, eps=1e-8):
    """ReduceLROnPlateau ('min' mode, relative threshold) replayed on recorded losses."""
    lrs, lr, best, bad = [], lr0, math.inf, 0
    for loss in losses:
        lrs.append(lr)
        if loss < best * (1.0 - threshold):
            best, bad = loss, 0
        else:
            bad += 1
        if bad > patience:
            new = max(lr * factor, min_lr)
            if lr - new > eps:
                lr = new
            bad = 0
    return np.array(lrs)


H = N_EPOCHS  # schedules with a horizon use max_iter

# (lr_schedule parameter, expected lr of epoch t); names use the documented defaults.
CASES = [
    ("constant", lambda t: constant(t, LR0)),
    (Constant(), lambda t: constant(t, LR0)),
    ("exponential", lambda t: exponential(t, LR0, 0.97)),
    (Exponential(gamma=0.8), lambda t: exponential(t, LR0, 0.8)),
    ("inverse_time", lambda t: inverse_time(t, LR0, 0.1)),
    (InverseTime(decay=0.5), lambda t: inverse_time(t, LR0, 0.5)),
    ("inverse_sqrt", lambda t: inverse_sqrt(t, LR0, 1.0)),
    (InverseSqrt(decay=0.3), lambda t: inverse_sqrt(t, LR0, 0.3)),
    ("linear", lambda t: linear(t, LR0, 0.01, H)),
    (Linear(end_factor=0.5), lambda t: linear(t, LR0, 0.5, H)),
    ("cosine", lambda t: cosine(t, LR0, 0.0, H)),
    (Cosine(eta_min=0.02), lambda t: cosine(t, LR0, 0.02, H)),
    ("cosine_restarts", lambda t: cosine_restarts(t, LR0, 10, 2, 0.0)),
    (CosineRestarts(T_0=3, T_mult=2, eta_min=0.01), lambda t: cosine_restarts(t, LR0, 3, 2, 0.01)),
    (CosineRestarts(T_0=4, T_mult=1), lambda t: cosine_restarts(t, LR0, 4, 1, 0.0)),
    ("one_cycle", lambda t: one_cycle(t, LR0, 0.3, 25.0, 1e4, H)),
    (
        OneCycle(pct_start=0.5, div_factor=10.0, final_div_factor=100.0),
        lambda t: one_cycle(t, LR0, 0.5, 10.0, 100.0, H),
    ),
]


def case_id(schedule):
    return schedule if isinstance(schedule, str) else repr(schedule)


@pytest.mark.parametrize(("schedule", "formula"), CASES, ids=[case_id(c[0]) for c in CASES])
def test_schedule_follows_formula_at_every_epoch(schedule, formula):
    X, y = data()
    est = make_estimator(schedule).fit(X, y)
    assert est.n_iter_ == N_EPOCHS
    expected = np.array([formula(t) for t in range(N_EPOCHS)])
    assert_allclose(recorded_lrs(est), expected, rtol=1e-9, atol=1e-15)
    if not (schedule == "constant" or isinstance(schedule, Constant)):
        # Not a vacuous agreement: the schedule does move the lr.
        assert len(np.unique(np.round(recorded_lrs(est), 12))) > 2


@pytest.mark.parametrize(("schedule", "formula"), CASES, ids=[case_id(c[0]) for c in CASES])
def test_schedule_drives_the_optimizer(schedule, formula):
    """The recorded lr is the one the optimizer used: replay plain GD with it in numpy."""
    X, y = data()
    est = make_estimator(schedule, alpha=0.0).fit(X, y)
    lrs = np.array([formula(t) for t in range(N_EPOCHS)])
    w, b, s = np.zeros(3), 0.0, 2.0 * y - 1.0
    for lr in lrs:
        r = -s / (1.0 + np.exp(s * (X @ w + b))) / len(y)  # d mean log-loss / d f
        w, b = w - lr * (X.T @ r), b - lr * r.sum()
    assert_allclose(est.coef_[0], w, rtol=1e-9, atol=1e-12)
    assert_allclose(est.intercept_[0], b, rtol=1e-9, atol=1e-12)


def test_one_cycle_landmarks():
    X, y = data()
    est = make_estimator("one_cycle", max_iter=20).fit(X, y)
    lrs = recorded_lrs(est)
    assert lrs[0] == pytest.approx(LR0 / 25.0)
    # Peak at the end of the rising phase, 0.3 * 21 - 1 = 5.3: epoch 5 (or 6) is the max.
    assert int(np.argmax(lrs)) in (5, 6)
    assert lrs.max() == pytest.approx(LR0, rel=1e-2)
    assert np.all(np.diff(lrs[:6]) > 0) and np.all(np.diff(lrs[6:]) < 0)
    # The horizon has one spare step: the last epoch is above the final lr.
    assert lrs[-1] > LR0 / 25.0 / 1e4
    assert lrs[-1] == pytest.approx(one_cycle(19, LR0, 0.3, 25.0, 1e4, 20), rel=1e-9)


# --------------------------------------------------------------------------- plateau
@pytest.mark.parametrize(
    ("schedule", "factor", "patience", "min_lr"),
    [
        ("plateau", 0.5, 5, 0.0),
        (Plateau(factor=0.2, patience=2, threshold=1e-3), 0.2, 2, 0.0),
        (Plateau(factor=0.2, patience=1, min_lr=0.005), 0.2, 1, 0.005),
    ],
    ids=["name", "spec", "spec-min_lr"],
)
def test_plateau_drops_after_patience_epochs_without_improvement(
    schedule, factor, patience, min_lr
):
    X, y = flat_data()
    est = make_estimator(schedule, max_iter=20).fit(X, y)
    # The plateau is real: the loss never moves from log(2).
    assert_allclose(est.loss_curve_, math.log(2.0), rtol=1e-12)
    lrs = recorded_lrs(est)
    expected = np.array([plateau_forced(t, LR0, factor, patience, min_lr) for t in range(20)])
    assert_allclose(lrs, expected, rtol=1e-12)
    drops = np.flatnonzero(np.diff(lrs) < 0) + 1
    first = patience + 2
    assert drops[0] == first
    assert np.all(np.diff(drops) == patience + 1)


def test_plateau_follows_the_monitored_training_loss():
    # A loss that improves, then improves by less than the threshold: drops depend on it.
    X, y = data()
    spec = Plateau(factor=0.5, patience=1, threshold=0.02)
    est = make_estimator(spec, max_iter=25, lr=2.0).fit(X, y)
    expected = plateau_reference(est.loss_curve_, 2.0, 0.5, 1, 0.02)
    assert_allclose(recorded_lrs(est), expected, rtol=1e-12)
    drops = np.flatnonzero(np.diff(expected) < 0) + 1
    assert len(drops) >= 1
    # Early epochs improve by more than 2 %: the first drop comes later than on a flat
    # loss (epoch patience + 2 = 3), so the recorded losses did steer the schedule.
    assert drops[0] > 3


def test_plateau_monitors_validation_loss_with_early_stopping():
    X, y = data()
    spec = Plateau(factor=0.5, patience=1, threshold=0.02)
    est = make_estimator(spec, max_iter=20, lr=2.0, early_stopping=True, validation_fraction=0.2)
    est.fit(X, y)
    valid_loss = np.array(est.net_.history[:, "valid_loss"], dtype=float)
    expected = plateau_reference(valid_loss, 2.0, 0.5, 1, 0.02)
    assert_allclose(recorded_lrs(est), expected, rtol=1e-12)
    train_based = plateau_reference(est.loss_curve_, 2.0, 0.5, 1, 0.02)
    # On these data the two losses give different schedules: the monitor matters.
    assert not np.allclose(expected, train_based)


# --------------------------------------------------------------------------- partial_fit
CONTINUED = [
    (s, f)
    for s, f in CASES
    if not (isinstance(s, str) and s == "cosine_restarts")
    and not (isinstance(s, CosineRestarts) and s.T_mult > 1)
]


@pytest.mark.parametrize(("schedule", "formula"), CONTINUED, ids=[case_id(c[0]) for c in CONTINUED])
def test_partial_fit_continues_the_schedule(schedule, formula):
    X, y = data()
    est = make_estimator(schedule)
    for k in range(N_EPOCHS):
        est.partial_fit(X, y, classes=[0, 1])
        lrs = recorded_lrs(est)
        assert len(lrs) == k + 1
        # Call k trains epoch k with the lr of epoch k.
        assert lrs[k] == pytest.approx(formula(k), rel=1e-9, abs=1e-15)
    full = make_estimator(schedule).fit(X, y)
    assert_allclose(recorded_lrs(est), recorded_lrs(full), rtol=1e-9, atol=1e-15)
    assert_allclose(est.coef_, full.coef_, rtol=1e-8, atol=1e-12)


def test_partial_fit_linear_schedule_stays_at_end_factor_past_max_iter():
    X, y = data()
    est = make_estimator(Linear(end_factor=0.25), max_iter=4)
    for _ in range(7):
        est.partial_fit(X, y, classes=[0, 1])
    expected = [linear(t, LR0, 0.25, 4) for t in range(7)]
    assert_allclose(recorded_lrs(est), expected, rtol=1e-9)
    assert expected[4:] == [LR0 * 0.25] * 3


@pytest.mark.parametrize(
    ("schedule", "formula"),
    [
        ("cosine_restarts", lambda t: cosine_restarts(t, LR0, 10, 2, 0.0)),
        (
            CosineRestarts(T_0=3, T_mult=2, eta_min=0.01),
            lambda t: cosine_restarts(t, LR0, 3, 2, 0.01),
        ),
    ],
    ids=["name", "spec"],
)
def test_partial_fit_continues_cosine_restarts(schedule, formula):
    X, y = data()
    n = 24
    est = make_estimator(schedule, max_iter=n)
    for _ in range(n):
        est.partial_fit(X, y, classes=[0, 1])
    expected = [formula(t) for t in range(n)]
    assert_allclose(recorded_lrs(est), expected, rtol=1e-9, atol=1e-15)


def test_partial_fit_continues_plateau():
    X, y = flat_data()
    est = make_estimator(Plateau(factor=0.5, patience=2), max_iter=12)
    for _ in range(12):
        est.partial_fit(X, y, classes=[0, 1])
    expected = [plateau_forced(t, LR0, 0.5, 2) for t in range(12)]
    assert_allclose(recorded_lrs(est), expected, rtol=1e-12)


WARM_CASES = [
    (Exponential(gamma=0.8), lambda t: exponential(t, LR0, 0.8)),
    (InverseTime(decay=0.5), lambda t: inverse_time(t, LR0, 0.5)),
    (InverseSqrt(decay=0.3), lambda t: inverse_sqrt(t, LR0, 0.3)),
    # Horizon max_iter = 5: linear stays at its end value, cosine comes back up.
    (Linear(end_factor=0.5), lambda t: linear(t, LR0, 0.5, 5)),
    (Cosine(eta_min=0.02), lambda t: cosine(t, LR0, 0.02, 5)),
    (CosineRestarts(T_0=3, T_mult=1), lambda t: cosine_restarts(t, LR0, 3, 1, 0.0)),
]


@pytest.mark.parametrize(
    ("schedule", "formula"), WARM_CASES, ids=[case_id(c[0]) for c in WARM_CASES]
)
def test_warm_start_continues_the_schedule(schedule, formula):
    X, y = data()
    est = make_estimator(schedule, max_iter=5, warm_start=True)
    est.fit(X, y)
    est.fit(X, y)
    assert est.n_iter_ == 10
    assert_allclose(recorded_lrs(est), [formula(t) for t in range(10)], rtol=1e-9)


def test_warm_start_refit_with_one_cycle():
    X, y = data()
    est = make_estimator("one_cycle", max_iter=5, warm_start=True)
    est.fit(X, y)
    assert_allclose(
        recorded_lrs(est), [one_cycle(t, LR0, 0.3, 25.0, 1e4, 5) for t in range(5)], rtol=1e-9
    )
    est.fit(X, y)
    assert est.n_iter_ == 10
    lrs = recorded_lrs(est)
    assert np.all(np.isfinite(lrs)) and np.all((lrs > 0) & (lrs <= LR0))


def test_refit_restarts_the_schedule():
    X, y = data()
    est = make_estimator(Exponential(gamma=0.5), max_iter=4).fit(X, y)
    est.fit(X, y)
    assert_allclose(recorded_lrs(est), [LR0 * 0.5**t for t in range(4)], rtol=1e-12)


# --------------------------------------------------------------------------- specs
SPECS_WITH_PARAMS = [
    Constant(),
    Exponential(gamma=0.5),
    InverseTime(decay=2.0),
    InverseSqrt(decay=0.25),
    Linear(end_factor=0.3),
    Cosine(eta_min=1e-3),
    CosineRestarts(T_0=5, T_mult=3, eta_min=1e-4),
    OneCycle(pct_start=0.2, div_factor=5.0, final_div_factor=50.0),
    Plateau(factor=0.3, patience=7, threshold=1e-2, min_lr=1e-5),
]


@pytest.mark.parametrize("spec", SPECS_WITH_PARAMS, ids=lambda s: type(s).__name__)
def test_spec_clone_and_get_params(spec):
    copy = clone(spec)
    assert copy is not spec
    assert type(copy) is type(spec)
    assert copy.get_params() == spec.get_params()
    assert isinstance(spec, ScheduleSpec)
    assert SCHEDULES[spec.name] is type(spec)
    defaults = type(spec)().get_params()
    assert set(defaults) == set(spec.get_params())
    if defaults:
        assert defaults != spec.get_params()  # the non-default values are kept
    resolved = resolve_schedule(spec)
    assert resolved is not spec and resolved.get_params() == spec.get_params()
    # Nested in an estimator: visible as lr_schedule__<name>, cloned with it.
    est = IWLogisticRegression(lr_schedule=spec)
    nested = {k: v for k, v in est.get_params(deep=True).items() if k.startswith("lr_schedule__")}
    assert nested == {f"lr_schedule__{k}": v for k, v in spec.get_params().items()}
    est_copy = clone(est)
    assert est_copy.lr_schedule is not spec
    assert est_copy.lr_schedule.get_params() == spec.get_params()


def test_set_params_through_estimator_changes_the_schedule():
    X, y = data()
    spec = Exponential(gamma=0.9)
    est = make_estimator(spec, max_iter=5)
    est.set_params(lr_schedule__gamma=0.5)
    assert est.lr_schedule.gamma == 0.5
    est.fit(X, y)
    assert_allclose(recorded_lrs(est), [LR0 * 0.5**t for t in range(5)], rtol=1e-12)
    # Fitting did not modify the spec object.
    assert est.lr_schedule.get_params() == {"gamma": 0.5}


def test_resolve_schedule_names_and_errors():
    for name, cls in SCHEDULES.items():
        spec = resolve_schedule(name)
        assert type(spec) is cls
        assert spec.get_params() == cls().get_params()
    assert sorted(SCHEDULES) == sorted(
        [
            "constant",
            "exponential",
            "inverse_time",
            "inverse_sqrt",
            "linear",
            "cosine",
            "cosine_restarts",
            "one_cycle",
            "plateau",
        ]
    )
    with pytest.raises(ValueError, match="lr_schedule must be one of"):
        resolve_schedule("step")
    with pytest.raises(ValueError, match="lr_schedule must be one of"):
        resolve_schedule(0.1)


# One value outside the domain of each hyperparameter of the schedules.
OUT_OF_RANGE = [
    (Exponential(gamma=0.0), "gamma"),
    (Exponential(gamma=1.5), "gamma"),
    (InverseTime(decay=-0.1), "decay"),
    (InverseSqrt(decay=math.nan), "decay"),
    (Linear(end_factor=1.5), "end_factor"),
    (Cosine(eta_min=-1.0), "eta_min"),
    (CosineRestarts(T_0=0), "T_0"),
    (CosineRestarts(T_mult=1.5), "T_mult"),
    (OneCycle(pct_start=1.5), "pct_start"),
    (OneCycle(div_factor=0.0), "div_factor"),
    (Plateau(factor=1.0), "factor"),
    (Plateau(patience=True), "patience"),
    (Plateau(min_lr=-1e-3), "min_lr"),
]


@pytest.mark.parametrize(("spec", "key"), OUT_OF_RANGE, ids=repr)
def test_out_of_range_hyperparameter_raises_at_build(spec, key):
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=LR0)
    with pytest.raises(InvalidParameterError, match=f"'{key}' parameter of {type(spec).__name__}"):
        spec.build(optimizer, n_epochs=N_EPOCHS)
