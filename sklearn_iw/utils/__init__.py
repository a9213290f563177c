"""Numerical helpers every wing of the package uses; it imports none of them."""
