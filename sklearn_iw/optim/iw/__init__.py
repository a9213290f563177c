"""Importance weights: the per-sample optimizer protocol, the step, the Gram and the box-QP."""
