"""The networks' building blocks: activations against numpy formulas, initialisations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_iw import IWMLPClassifier
from sklearn_iw.estimators._layers import (
    ACTIVATIONS,
    INITS,
    SobolevaTanh,
    activation_inputs,
    make_activation,
    resolve_init,
)
from sklearn_iw.solvers import SGD, Adam
from tests.classification_references import (
    np_activation,
    np_maxout,
    np_mlp_forward,
    np_soboleva_tanh,
    small_problem,
)

# Most fits below are deliberately short; their ConvergenceWarning is noise here (the
# warning itself is tested with pytest.warns, which records regardless of this filter).
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


# --------------------------------------------------------------------------- activations
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_module_matches_numpy_formula(name):
    x = np.linspace(-6.0, 6.0, activation_inputs(name, 241))  # maxout: 2 inputs a unit
    module = make_activation(name, width=241).double()
    out = module(torch.as_tensor(x)[None, :])
    assert_allclose(out.detach().numpy()[0], np_activation(name, x), rtol=1e-6, atol=1e-9)


def test_lecun_tanh_and_gaussian_values():
    x = np.array([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0])
    lecun = make_activation("lecun_tanh", 1)(torch.as_tensor(x)).numpy()
    gauss = make_activation("gaussian", 1)(torch.as_tensor(x)).numpy()
    assert_allclose(lecun, 1.7159 * np.tanh(2.0 * x / 3.0), rtol=1e-12)
    assert_allclose(gauss, np.exp(-(x**2)), rtol=1e-12)
    # LeCun's design points: f(+-1) = +-1 (approximately) and f(0) = 0; gaussian peaks at 1.
    assert lecun[5] == pytest.approx(1.0, abs=1e-3)
    assert gauss[3] == 1.0


@pytest.mark.parametrize("pieces", [2, 3, 5])
def test_maxout_is_the_max_over_each_units_pieces(pieces):
    x = np.random.RandomState(0).normal(size=(2, 7, 4 * pieces))
    out = make_activation("maxout", 4, pieces)(torch.as_tensor(x)).numpy()
    assert out.shape == (2, 7, 4)
    assert_array_equal(out, np_maxout(x, pieces))
    # Every piece wins somewhere: the max is not always taken from the same position.
    winners = x.reshape(2, 7, 4, pieces).argmax(axis=-1)
    assert set(np.unique(winners)) == set(range(pieces))


@pytest.mark.parametrize("params", [(1.0, 1.0, 1.0, 2.0), (0.5, 1.5, 2.0, 1.0), (1, 1, 1, 1)])
def test_soboleva_tanh_matches_the_formula(params):
    x = np.linspace(-30.0, 30.0, 2001)
    got = SobolevaTanh(*params)(torch.as_tensor(x)).numpy()
    assert_allclose(got, np_soboleva_tanh(x, *params), rtol=1e-12, atol=1e-15)
    if params == (1, 1, 1, 1):  # a = b = c = d is tanh(a x)
        assert_allclose(got, np.tanh(x), rtol=1e-12, atol=1e-15)


def test_soboleva_tanh_defaults_differ_from_tanh():
    f = make_activation("soboleva_tanh", 1)
    x = torch.tensor([-math.log(2.0), 0.0, 40.0], dtype=torch.float64, requires_grad=True)
    y = f(x)
    # The documented shape: the dip -1/3 at -ln 2, 0 at 0, limit +1 on the right ...
    assert_allclose(y.detach().numpy(), [-1.0 / 3.0, 0.0, 1.0], rtol=1e-12, atol=1e-15)
    # ... slope 1 at 0 (as tanh) and a stationary point at -ln 2 (tanh has none).
    (slope,) = torch.autograd.grad(y.sum(), x)
    assert_allclose(slope.numpy()[:2], [0.0, 1.0], atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_soboleva_tanh_is_finite_for_large_inputs(dtype):
    # e^{2|x|} overflows float32 from |x| ~ 44 and float64 from ~ 355; the formula as
    # written gives inf / inf there.
    x = torch.tensor([-1e6, -800.0, -100.0, 100.0, 800.0, 1e6], dtype=dtype, requires_grad=True)
    y = make_activation("soboleva_tanh", 1)(x)
    (grad,) = torch.autograd.grad(y.sum(), x)
    assert torch.isfinite(y).all() and torch.isfinite(grad).all()
    # The limits: 0 (from below) on the left, 1 on the right.
    assert_allclose(y.detach().double().numpy(), [0, 0, 0, 1, 1, 1], atol=1e-30)
    assert (y[:3] <= 0).all()


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_every_activation_trains_and_forward_pass_matches_numpy(name):
    X, y = small_problem(n_classes=3)
    est = IWMLPClassifier(
        hidden_layer_sizes=(8,),
        activation=name,
        optimizer=Adam(lr=0.02),
        batch_size="full",
        max_iter=12,
        n_iter_no_change=100,
        random_state=0,
    ).fit(X, y)
    assert est.n_iter_ == 12
    assert np.all(np.isfinite(est.loss_curve_))
    assert est.loss_curve_[-1] < est.loss_curve_[0]
    proba = est.predict_proba(X)
    assert np.all(np.isfinite(proba))
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    slopes = None
    if name == "prelu":
        prelu = [m for m in est.net_.module_ if isinstance(m, torch.nn.PReLU)]
        slopes = [m.weight.detach().numpy() for m in prelu]
    scores = np_mlp_forward(est, X, activation=name, prelu_slopes=slopes)
    assert_allclose(est.decision_function(X), scores, rtol=1e-9, atol=1e-10)


def test_unknown_activation_raises():
    X, y = small_problem()
    with pytest.raises(InvalidParameterError, match="The 'activation' parameter"):
        IWMLPClassifier(activation="swish3").fit(X, y)


# --------------------------------------------------------------------------- initialisations
FAN_IN, FAN_OUT = 400, 600  # LeCun, Glorot and He scales differ by > 10 % at these fans


def _initial_hidden_weight(init, activation="relu", fan_in=FAN_IN, fan_out=FAN_OUT, seed=0):
    """Hidden weight matrix (fan_out, fan_in) as the estimator initialises it.

    One epoch of SGD with lr=1e-12 moves the weights by < 1e-10, far below the scales.
    """
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(40, fan_in))
    y = np.arange(40) % 2
    est = IWMLPClassifier(
        hidden_layer_sizes=(fan_out,),
        activation=activation,
        init=init,
        optimizer=SGD(lr=1e-12),
        batch_size="full",
        max_iter=1,
        random_state=seed,
    ).fit(X, y)
    return est.coefs_[0].T, est.intercepts_[0]


EXPECTED_STD = {
    "lecun": math.sqrt(1.0 / FAN_IN),
    "glorot": math.sqrt(2.0 / (FAN_IN + FAN_OUT)),
    "he": math.sqrt(2.0 / FAN_IN),
}


@pytest.mark.parametrize("init", [i for i in INITS if i.endswith(("_normal", "_uniform"))])
def test_fan_based_init_variance(init):
    W, b = _initial_hidden_weight(init)
    family, kind = init.split("_")
    std = EXPECTED_STD[family]
    assert W.shape == (FAN_OUT, FAN_IN)
    assert_allclose(b, 0.0, atol=1e-9)
    assert abs(W.mean()) < 0.05 * std
    assert W.std() == pytest.approx(std, rel=0.05)
    # The other families' scales are excluded by the 5 % tolerance.
    for other, other_std in EXPECTED_STD.items():
        if other != family:
            assert W.std() != pytest.approx(other_std, rel=0.05)
    bound = math.sqrt(3.0) * std
    if kind == "uniform":
        assert np.abs(W).max() <= bound + 1e-12
        assert np.abs(W).max() > 0.99 * bound
        # A uniform sample has no tails: a quarter of |w| lies above 0.75 * bound.
        assert np.mean(np.abs(W) > 0.75 * bound) == pytest.approx(0.25, abs=0.01)
    else:
        # A normal sample has tails beyond sqrt(3) std (P = 8.3 %).
        assert np.mean(np.abs(W) > bound) == pytest.approx(0.0833, abs=0.01)


def test_orthogonal_init():
    # fan_out >= fan_in: the columns of the torch weight (fan_out, fan_in) are orthonormal.
    W, b = _initial_hidden_weight("orthogonal", fan_in=200, fan_out=300)
    assert_allclose(W.T @ W, np.eye(200), atol=1e-5)
    assert_allclose(b, 0.0, atol=1e-9)
    # A wide layer has orthonormal rows instead.
    W, _ = _initial_hidden_weight("orthogonal", fan_in=300, fan_out=200)
    assert_allclose(W @ W.T, np.eye(200), atol=1e-5)


def test_sparse_init_zero_fraction_per_column():
    W, b = _initial_hidden_weight("sparse")
    # Zero-initialised weights moved by < 1e-10 in the one tiny SGD step.
    zero_fraction = np.mean(np.abs(W) < 1e-9, axis=0)  # per column: per input unit
    assert zero_fraction.shape == (FAN_IN,)
    assert_allclose(zero_fraction, math.ceil(0.9 * FAN_OUT) / FAN_OUT, atol=1e-12)
    assert_allclose(zero_fraction, 0.9, atol=2.0 / FAN_OUT)
    nonzero = W[np.abs(W) >= 1e-9]
    assert nonzero.std() == pytest.approx(0.01, rel=0.05)
    assert_allclose(b, 0.0, atol=1e-9)


def test_sparse_init_keeps_a_nonzero_weight_in_narrow_layers():
    W, _ = _initial_hidden_weight("sparse", fan_in=4, fan_out=8)
    assert np.all((np.abs(W) >= 1e-9).sum(axis=0) >= 1)


@pytest.mark.parametrize(
    ("activation", "resolved"),
    [
        ("relu", "he_uniform"),
        ("gelu", "he_uniform"),
        ("selu", "lecun_normal"),
        ("tanh", "glorot_uniform"),
        ("logistic", "glorot_uniform"),
    ],
)
def test_auto_init_resolution(activation, resolved):
    assert resolve_init("auto", activation) == resolved
    family = resolved.split("_")[0]
    W, _ = _initial_hidden_weight("auto", activation=activation)
    assert W.std() == pytest.approx(EXPECTED_STD[family], rel=0.05)


@pytest.mark.parametrize("init", INITS)
def test_every_init_trains_a_small_network(init):
    X, y = small_problem(n_classes=3)
    est = IWMLPClassifier(
        hidden_layer_sizes=(16,),
        activation="tanh",
        init=init,
        optimizer=Adam(lr=0.02),
        batch_size="full",
        max_iter=10,
        n_iter_no_change=100,
        random_state=0,
    ).fit(X, y)
    assert est.loss_curve_[-1] < est.loss_curve_[0]
    assert np.all(np.isfinite(est.predict_proba(X)))


def test_unknown_init_raises():
    X, y = small_problem()
    with pytest.raises(InvalidParameterError, match="The 'init' parameter"):
        IWMLPClassifier(init="xavier").fit(X, y)
