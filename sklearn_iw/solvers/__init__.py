"""Optimizer specs, hand-written optimizers, the per-sample Gram and the box-QP solver.

Nothing in this package knows about estimators: specs turn parameters into
``torch.optim.Optimizer`` objects and solvers are pure tensor functions.
"""

__all__: list[str] = []
