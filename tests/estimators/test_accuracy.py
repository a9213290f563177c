"""Accuracy against scikit-learn's own estimators on real data shipped with scikit-learn."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

from sklearn_iw import IWLogisticRegression, IWMLPClassifier
from sklearn_iw.solvers import OPTIMIZERS


def _scaled_split(X, y):
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=y
    )
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


@pytest.mark.parametrize("optimizer", ["importance_weights", "adam", "lbfgs"])
def test_logistic_regression_matches_sklearn_on_breast_cancer(optimizer):
    X_train, X_test, y_train, y_test = _scaled_split(*load_breast_cancer(return_X_y=True))
    reference = LogisticRegression().fit(X_train, y_train).score(X_test, y_test)
    # alpha=1 is LogisticRegression(C=1)'s penalty for the gradient optimizers; with
    # importance weights alpha is a per-step decay, left at its default.
    alpha = 1e-4 if optimizer == "importance_weights" else 1.0
    model = IWLogisticRegression(optimizer=optimizer, alpha=alpha, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        score = model.fit(X_train, y_train).score(X_test, y_test)
    assert abs(score - reference) <= 0.015, (score, reference)


@pytest.mark.parametrize("optimizer", ["importance_weights", "adam"])
def test_mlp_matches_sklearn_on_digits(optimizer):
    X_train, X_test, y_train, y_test = _scaled_split(*load_digits(return_X_y=True))
    epochs = 50
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reference = MLPClassifier(hidden_layer_sizes=(64,), max_iter=epochs, random_state=0)
        reference_score = reference.fit(X_train, y_train).score(X_test, y_test)
        model = IWMLPClassifier(
            hidden_layer_sizes=(64,), optimizer=optimizer, max_iter=epochs, random_state=0
        )
        score = model.fit(X_train, y_train).score(X_test, y_test)
    assert model.n_iter_ <= epochs and np.max(reference.n_iter_) <= epochs
    assert score >= reference_score - 0.015, (score, reference_score)


def _digits_test_accuracy(**params) -> float:
    """Held-out accuracy on scaled digits of IWMLPClassifier(random_state=0, **params)."""
    X_train, X_test, y_train, y_test = _scaled_split(*load_digits(return_X_y=True))
    model = IWMLPClassifier(random_state=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        score = model.fit(X_train, y_train).score(X_test, y_test)
    print(f"{params}: test accuracy {score:.3f} after {model.n_iter_} epochs")
    return score


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_every_optimizer_learns_digits(optimizer):
    score = _digits_test_accuracy(hidden_layer_sizes=(64,), optimizer=optimizer, max_iter=100)
    assert score >= 0.85


@pytest.mark.parametrize("activation", ["maxout", "soboleva_tanh"])
def test_new_activations_learn_digits(activation):
    # Importance weights (the default optimizer), 10 epochs: about a second each.
    score = _digits_test_accuracy(hidden_layer_sizes=(32,), activation=activation, max_iter=10)
    assert score >= 0.85
