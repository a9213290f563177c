"""The optimization wing: optimizer and schedule specs, their registry, and the rules.

Nothing here knows about estimators or the engine. The importance-weights step (its
protocol, the per-sample Gram and the box-QP) is :mod:`sklearn_iw.optim.iw`; the public
names of both are gathered in :mod:`sklearn_iw.solvers`.
"""
