"""The per-sample classification losses and probabilities against numpy transcriptions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import expit, logsumexp, softmax
from sklearn.model_selection import train_test_split

from sklearn_iw import IWLogisticRegression
from sklearn_iw.engine._losses import ClassificationLoss
from sklearn_iw.solvers import SGD
from tests.classification_references import iris, sgd_with_weights, small_problem

# Most fits below are deliberately short; their ConvergenceWarning is noise here (the
# warning itself is tested with pytest.warns, which records regardless of this filter).
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


# --------------------------------------------------------------------------- numpy references
def np_margin_loss(z, loss):
    if loss == "log_loss":
        return np.logaddexp(0.0, -z)
    if loss in ("hinge", "crammer_singer_hinge"):
        return np.maximum(0.0, 1.0 - z)
    if loss == "squared_hinge":
        return np.maximum(0.0, 1.0 - z) ** 2
    assert loss == "modified_huber"
    return np.where(z >= -1.0, np.maximum(0.0, 1.0 - z) ** 2, -4.0 * z)


def np_multiclass_loss(f, y, loss):
    n, k = f.shape
    out = np.zeros(n)
    for i in range(n):
        if loss == "log_loss":
            out[i] = logsumexp(f[i]) - f[i, y[i]]
        elif loss == "modified_huber":
            sign = np.where(np.arange(k) == y[i], 1.0, -1.0)
            out[i] = np_margin_loss(sign * f[i], loss).sum()
        elif loss == "crammer_singer_hinge":
            others = [f[i, j] - f[i, y[i]] + 1.0 for j in range(k) if j != y[i]]
            out[i] = max(0.0, max(others))
        else:
            for j in range(k):
                if j == y[i]:
                    continue
                term = max(0.0, f[i, j] - f[i, y[i]] + 1.0)
                out[i] += term**2 if loss == "squared_hinge" else term
    return out


# --------------------------------------------------------------------------- losses
LOSS_NAMES = ["log_loss", "hinge", "squared_hinge", "modified_huber", "crammer_singer_hinge"]


def _outputs(shape, seed=0):
    # Scale 2: margins fall on every branch (z < -1, -1 <= z < 1, z >= 1).
    return np.random.RandomState(seed).normal(scale=2.0, size=shape)


@pytest.mark.parametrize("loss", LOSS_NAMES)
def test_binary_per_sample_loss(loss):
    f = _outputs((300, 1))
    y = np.random.RandomState(1).randint(0, 2, size=300)
    z = (2 * y - 1) * f[:, 0]
    assert (z < -1).any() and ((z >= -1) & (z < 1)).any() and (z >= 1).any()
    criterion = ClassificationLoss(loss, "binary")
    got = criterion(torch.as_tensor(f), torch.as_tensor(y)).numpy()
    assert got.shape == (300,)
    assert_allclose(got, np_margin_loss(z, loss), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("loss", LOSS_NAMES)
def test_multiclass_per_sample_loss(loss):
    f = _outputs((200, 4))
    y = np.random.RandomState(1).randint(0, 4, size=200)
    criterion = ClassificationLoss(loss, "multiclass")
    got = criterion(torch.as_tensor(f), torch.as_tensor(y)).numpy()
    assert got.shape == (200,)
    assert_allclose(got, np_multiclass_loss(f, y, loss), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("loss", LOSS_NAMES)
def test_multilabel_per_sample_loss(loss):
    f = _outputs((150, 3))
    Y = np.random.RandomState(1).randint(0, 2, size=(150, 3))
    criterion = ClassificationLoss(loss, "multilabel")
    got = criterion(torch.as_tensor(f), torch.as_tensor(Y, dtype=torch.float64)).numpy()
    expected = np_margin_loss((2 * Y - 1) * f, loss).sum(axis=1)
    assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_multiclass_hinge_hand_values():
    f = torch.tensor([[2.0, 1.5, -1.0], [0.0, 0.0, 0.0], [3.0, 0.0, 0.0]], dtype=torch.float64)
    y = torch.tensor([0, 1, 2])
    # Row 0: max(0, 1.5-2+1) + max(0, -1-2+1) = 0.5; row 1: 1 + 1; row 2: 4 + 1.
    hinge = ClassificationLoss("hinge", "multiclass")(f, y).numpy()
    assert_allclose(hinge, [0.5, 2.0, 5.0])
    squared = ClassificationLoss("squared_hinge", "multiclass")(f, y).numpy()
    assert_allclose(squared, [0.25, 2.0, 17.0])
    # Crammer-Singer: the largest term alone (row 1: max(1, 1); row 2: max(4, 1)).
    crammer_singer = ClassificationLoss("crammer_singer_hinge", "multiclass")(f, y).numpy()
    assert_allclose(crammer_singer, [0.5, 1.0, 4.0])


def np_crammer_singer_subgradient(f, y):
    """d/df of max(0, max_{j != y} (f_j - f_y + 1)): +1 at the most violating class and
    -1 at the true one where the loss is positive, else 0 (at points without ties)."""
    grad = np.zeros_like(f)
    for i in range(f.shape[0]):
        terms = f[i] - f[i, y[i]] + 1.0
        terms[y[i]] = -np.inf
        j = int(np.argmax(terms))
        if terms[j] > 0:
            grad[i, j], grad[i, y[i]] = 1.0, -1.0
    return grad


def test_crammer_singer_subgradient_matches_numpy():
    f = _outputs((400, 5))
    y = np.random.RandomState(1).randint(0, 5, size=400)
    # Away from ties: the two largest competitors, and the largest and 0, differ.
    terms = f - f[np.arange(400), y][:, None] + 1.0
    terms[np.arange(400), y] = -np.inf
    top2 = np.sort(terms, axis=1)[:, -2:]
    keep = (top2[:, 1] - top2[:, 0] > 1e-3) & (np.abs(top2[:, 1]) > 1e-3)
    f, y = f[keep], y[keep]
    assert len(y) > 300 and (top2[keep, 1] < 0).any() and (top2[keep, 1] > 0).any()
    output = torch.as_tensor(f).requires_grad_(True)
    losses = ClassificationLoss("crammer_singer_hinge", "multiclass")(output, torch.as_tensor(y))
    (grad,) = torch.autograd.grad(losses.sum(), output)
    assert_array_equal(grad.numpy(), np_crammer_singer_subgradient(f, y))


def test_crammer_singer_hinge_classifies_iris():
    X, y = iris()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, random_state=0, stratify=y
    )
    est = IWLogisticRegression(loss="crammer_singer_hinge", random_state=0).fit(X_train, y_train)
    assert est.score(X_test, y_test) >= 0.9
    scores = est.decision_function(X_test)
    assert scores.shape == (len(y_test), 3)
    assert_array_equal(est.predict(X_test), est.classes_[scores.argmax(axis=1)])
    # As for 'hinge': a margin loss gives no probabilities.
    assert not hasattr(est, "predict_proba")
    # Its own loss: the objective differs from the summed hinge (one term a sample). With
    # Adam, since importance weights with p=1 ask every step to remove each sample's loss,
    # and where one class at most violates the margin both losses give the same step.
    fits = [
        IWLogisticRegression(loss=loss, optimizer="adam", random_state=0).fit(X_train, y_train)
        for loss in ("crammer_singer_hinge", "hinge")
    ]
    assert not np.allclose(fits[0].coef_, fits[1].coef_)


@pytest.mark.parametrize(
    ("loss", "task", "n_classes", "expected"),
    [
        ("log_loss", "binary", 2, math.log(2.0)),
        ("hinge", "binary", 2, 1.0),
        ("squared_hinge", "binary", 2, 1.0),
        ("modified_huber", "binary", 2, 1.0),
        ("crammer_singer_hinge", "binary", 2, 1.0),
        ("log_loss", "multiclass", 3, math.log(3.0)),
        ("hinge", "multiclass", 3, 2.0),
        ("squared_hinge", "multiclass", 3, 2.0),
        ("modified_huber", "multiclass", 3, 3.0),
        ("crammer_singer_hinge", "multiclass", 3, 1.0),
    ],
)
def test_estimator_first_epoch_loss_at_zero_weights(loss, task, n_classes, expected):
    # One full-batch step per epoch: the first recorded loss is the loss of the
    # zero-initialised linear model, whose every output is 0.
    X, y = small_problem(n_classes=n_classes)
    est = IWLogisticRegression(
        loss=loss, optimizer=SGD(lr=0.01), batch_size="full", max_iter=2
    ).fit(X, y)
    assert est.loss_curve_[0] == pytest.approx(expected, rel=1e-12)
    assert est.loss_curve_[1] < est.loss_curve_[0]


def test_binary_and_multiclass_probabilities():
    f1 = _outputs((50, 1))
    p = ClassificationLoss("log_loss", "binary").proba(torch.as_tensor(f1)).numpy()
    assert_allclose(p, np.column_stack([expit(-f1[:, 0]), expit(f1[:, 0])]), rtol=1e-12)
    f3 = _outputs((50, 3))
    p = ClassificationLoss("log_loss", "multiclass").proba(torch.as_tensor(f3)).numpy()
    assert_allclose(p, softmax(f3, axis=1), rtol=1e-12)
    p = ClassificationLoss("log_loss", "multilabel").proba(torch.as_tensor(f3)).numpy()
    assert_allclose(p, expit(f3), rtol=1e-12)
    p = ClassificationLoss("modified_huber", "multilabel").proba(torch.as_tensor(f3)).numpy()
    assert_allclose(p, (np.clip(f3, -1, 1) + 1) / 2, rtol=1e-12)


def test_modified_huber_proba_all_scores_below_minus_one_is_uniform():
    # Decision values taken as the inputs of an identity linear model.
    D = np.array([[-2.0, -1.5, -3.0], [-1.0, -1.0, -1.0], [0.5, -2.0, 2.0], [0.0, 0.0, 0.0]])
    y = np.array([0, 1, 2, 0])
    sgd = sgd_with_weights(D, y, np.eye(3), np.zeros(3))
    proba = ClassificationLoss("modified_huber", "multiclass").proba(torch.as_tensor(D)).numpy()
    assert_allclose(proba, sgd.predict_proba(D), rtol=1e-12)
    assert_allclose(proba[0], [1 / 3] * 3)
    assert_allclose(proba[2], [0.75 / 1.75, 0.0, 1.0 / 1.75])
