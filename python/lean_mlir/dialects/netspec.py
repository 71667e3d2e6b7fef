"""Typed builder for the ``netspec`` dialect.

:class:`ModelBuilder` adds one op per call and verifies it on the spot, so a
shape error raises :class:`lean_mlir.ir.MLIRError` located at the layer that
caused it. Result types are inferred by the dialect; Python never spells them.

    with Context():
        b = ModelBuilder("tiny", Location.unknown())
        x = b.input([None, 4], loc)
        w = b.param("dense_0.weight", [4, 2], "he_normal", loc)
        bias = b.param("dense_0.bias", [2], "zeros", loc)
        module = b.output(b.dense(x, w, bias, "identity", loc), loc)
"""

from lean_mlir._mlir import ModelBuilder, Value

__all__ = ["ModelBuilder", "Value"]

