"""Optimizer specs, hand-written optimizers, the per-sample Gram and the box-QP solver.

Nothing in this package knows about estimators: specs turn parameters into
``torch.optim.Optimizer`` objects and solvers are pure tensor functions.
"""

from ._optimizers import (
    GD,
    LBFGS,
    OPTIMIZERS,
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    Momentum,
    Nesterov,
    OptimizerSpec,
    RMSprop,
    Rprop,
    resolve_optimizer,
)
from ._schedules import (
    SCHEDULES,
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

__all__: list[str] = [
    "OPTIMIZERS",
    "SCHEDULES",
    "GD",
    "LBFGS",
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "Momentum",
    "Nesterov",
    "OptimizerSpec",
    "RMSprop",
    "Rprop",
    "resolve_optimizer",
    "Constant",
    "Cosine",
    "CosineRestarts",
    "Exponential",
    "InverseSqrt",
    "InverseTime",
    "Linear",
    "OneCycle",
    "Plateau",
    "ScheduleSpec",
    "resolve_schedule",
]
