//===- Activation.h - fused activations: forward and VJP --------*- C++ -*-===//
//
// Part of lean-mlir.
//
//===----------------------------------------------------------------------===//

#ifndef LEAN_MLIR_LIB_DIALECT_NETSPEC_RULES_ACTIVATION_H
#define LEAN_MLIR_LIB_DIALECT_NETSPEC_RULES_ACTIVATION_H

#include "lean_mlir/Dialect/NetSpec/NetSpecOps.h"
#include "lean_mlir/StableHLO/Builder.h"

namespace lean_mlir::netspec {

/// relu(x) = max(x, 0); identity(x) = x.
inline mlir::Value emitActivation(StablehloBuilder &b, Activation act,
                                  mlir::Value x) {
  if (act == Activation::Identity)
    return x;
  return b.max(x, b.splatLike(0.0f, x));
}

/// Cotangent of the activation's input. ReLU masks by its output: the
/// gradient passes where the output is positive (at 0 it is 0, as in
/// PyTorch and JAX).
inline mlir::Value emitActivationVJP(StablehloBuilder &b, Activation act,
                                     mlir::Value out, mlir::Value grad) {
  if (act == Activation::Identity)
    return grad;
  mlir::Value zero = b.splatLike(0.0f, out);
  return b.select(b.compare(out, zero, Cmp::GT), grad, zero);
}

} // namespace lean_mlir::netspec

#endif // LEAN_MLIR_LIB_DIALECT_NETSPEC_RULES_ACTIVATION_H
