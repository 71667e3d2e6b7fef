"""Builders for the dialects lean-mlir defines."""

__all__ = ["netspec"]
