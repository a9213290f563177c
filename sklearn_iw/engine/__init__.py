"""The engine wing: skorch-driven epochs over in-memory tensors.

The engine (a skorch ``NeuralNet``), the tensors and how they are fed, the losses, the
engine callbacks (validation score, schedules) and the thread settings. It drives any
optimizer of :mod:`sklearn_iw.optim` through the spec's flags and never names one.
"""
