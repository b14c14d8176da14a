"""Deterministic synthetic two-domain data set: see :func:`generate_synthetic`."""

from .generate import generate_synthetic, write_previews

__all__ = ["generate_synthetic", "write_previews"]
