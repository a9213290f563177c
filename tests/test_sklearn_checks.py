"""scikit-learn's own estimator checks, with no expected failures, over several optimizers."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_iw import IWLogisticRegression, IWMLPClassifier

# One adaptive, one classic minibatch and one full-batch quasi-Newton optimizer per estimator.
# Small models and epochs keep the ~50 checks per instance fast; accuracy checks still pass.
ESTIMATORS = [
    IWLogisticRegression(optimizer="adam", random_state=0),
    IWLogisticRegression(optimizer="sgd", random_state=0),
    IWLogisticRegression(optimizer="lbfgs", random_state=0),
    IWLogisticRegression(loss="hinge", optimizer="adam", random_state=0),
    IWMLPClassifier(hidden_layer_sizes=(16,), optimizer="adam", random_state=0),
    IWMLPClassifier(hidden_layer_sizes=(16,), optimizer="momentum", random_state=0),
    IWMLPClassifier(hidden_layer_sizes=(16,), optimizer="lbfgs", random_state=0),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator, check):
    check(estimator)
