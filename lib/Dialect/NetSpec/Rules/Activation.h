//===- Activation.h - fused activations: forward and VJP --------*- C++ -*-===//
//
// Part of lean-mlir.
//
// The activations a layer may apply to its result (conv2d, dense,
// batch_norm; the standalone relu), with z the value before it:
//
//   identity  z
//   relu      max(z, 0)
//   relu6     min(max(z, 0), 6)
//   sigmoid   s(z) = 1 / (1 + exp(-z))
//   tanh      tanh(z)
//   silu      z * s(z)                                    (swish)
//   gelu      z * Phi(z) = z / 2 * (1 + erf(z / sqrt 2))   (the exact form,
//                                                           PyTorch's default)
//   gelu_tanh z / 2 * (1 + t),  t = tanh(u),
//             u = sqrt(2 / pi) (z + 0.044715 z^3)   (approximate="tanh")
//   hardswish   z * relu6(z + 3) / 6
//   hardsigmoid relu6(z + 3) / 6
//
// and the cotangent of z from the output y and its cotangent g:
//
//   relu      g where y > 0, else 0 (0 at 0, as PyTorch and JAX)
//   relu6     g where 0 < y < 6, else 0 (0 at both ends, as PyTorch)
//   sigmoid   g * y * (1 - y)
//   tanh      g * (1 - y^2)
//   silu      g * s(z) * (1 + z * (1 - s(z)))
//   gelu      g * (Phi(z) + z * phi(z)),  phi(z) = exp(-z^2 / 2) / sqrt(2 pi)
//   gelu_tanh g * ((1 + t) / 2 + z / 2 * (1 - t^2) * u'),
//             u' = sqrt(2 / pi) (1 + 3 * 0.044715 z^2)
//   hardswish   0 where z < -3, g (z / 3 + 1 / 2) where -3 <= z <= 3, g above
//               (PyTorch's choice at the kinks)
//   hardsigmoid g / 6 where 0 < y < 1 (-3 < z < 3), else 0 (0 at both kinks,
//               as PyTorch)
//
// silu's, both gelus' and hardswish's derivatives need z, which y does not
// determine: the forward pass of a training function keeps it
// (LayerLowering::keptForVJP)
// for the same layer's VJP, in the layout the rule computes in.
//
//===----------------------------------------------------------------------===//

#ifndef LEAN_MLIR_LIB_DIALECT_NETSPEC_RULES_ACTIVATION_H
#define LEAN_MLIR_LIB_DIALECT_NETSPEC_RULES_ACTIVATION_H

#include "lean_mlir/Dialect/NetSpec/Lowering.h"
#include "lean_mlir/Dialect/NetSpec/NetSpecOps.h"
#include "lean_mlir/StableHLO/Builder.h"

namespace lean_mlir::netspec {

/// relu6(z + 3) / 6.
inline mlir::Value hardsigmoid(StablehloBuilder &b, mlir::Value z) {
  mlir::Value shifted = b.add(z, b.splatLike(3.0f, z));
  mlir::Value clipped = b.min(b.max(shifted, b.splatLike(0.0f, z)),
                              b.splatLike(6.0f, z));
  return b.mul(clipped, b.splatLike(1.0f / 6.0f, z));
}

/// Whether the activation's derivative needs its input, not only its output.
inline bool derivativeNeedsInput(Activation act) {
  return act == Activation::Silu || act == Activation::Gelu ||
         act == Activation::GeluTanh || act == Activation::Hardswish;
}

/// gelu_tanh's u = sqrt(2 / pi) (z + 0.044715 z^3) and its derivative in z.
inline std::pair<mlir::Value, mlir::Value> geluTanhArgument(StablehloBuilder &b,
                                                            mlir::Value z) {
  constexpr float kRoot2OverPi = 0.79788456080286536f, kCubic = 0.044715f;
  mlir::Value z2 = b.mul(z, z);
  mlir::Value u = b.mul(b.splatLike(kRoot2OverPi, z),
                        b.add(z, b.mul(b.splatLike(kCubic, z), b.mul(z2, z))));
  mlir::Value du =
      b.mul(b.splatLike(kRoot2OverPi, z),
            b.add(b.splatLike(1.0f, z), b.mul(b.splatLike(3 * kCubic, z), z2)));
  return {u, du};
}

/// Phi(z) = (1 + erf(z / sqrt 2)) / 2, the standard normal CDF.
inline mlir::Value normalCdf(StablehloBuilder &b, mlir::Value z) {
  mlir::Value erf = b.erf(b.mul(z, b.splatLike(0.70710678118654752f, z)));
  return b.mul(b.add(erf, b.splatLike(1.0f, z)), b.splatLike(0.5f, z));
}

/// act(z) for `layer`; in a training function, z is kept for
/// emitActivationVJP when the derivative needs it.
inline mlir::Value emitActivation(LayerLowering &lowering,
                                  mlir::Operation *layer, Activation act,
                                  mlir::Value z) {
  StablehloBuilder &b = lowering.b;
  if (lowering.training && derivativeNeedsInput(act))
    lowering.keptForVJP[layer] = z;
  switch (act) {
  case Activation::Identity:
    return z;
  case Activation::Relu:
    return b.max(z, b.splatLike(0.0f, z));
  case Activation::Relu6:
    return b.min(b.max(z, b.splatLike(0.0f, z)), b.splatLike(6.0f, z));
  case Activation::Sigmoid:
    return b.logistic(z);
  case Activation::Tanh:
    return b.tanh(z);
  case Activation::Silu:
    return b.mul(z, b.logistic(z));
  case Activation::Gelu:
    return b.mul(z, normalCdf(b, z));
  case Activation::GeluTanh: {
    mlir::Value t = b.tanh(geluTanhArgument(b, z).first);
    return b.mul(b.mul(z, b.splatLike(0.5f, z)),
                 b.add(b.splatLike(1.0f, z), t));
  }
  case Activation::Hardswish:
    return b.mul(z, hardsigmoid(b, z));
  case Activation::Hardsigmoid:
    return hardsigmoid(b, z);
  }
  llvm_unreachable("unknown activation");
}

/// Cotangent of `layer`'s activation input, from its output `out` and the
/// output's cotangent `grad` (and, where derivativeNeedsInput, the input the forward
/// pass kept).
inline mlir::Value emitActivationVJP(LayerLowering &lowering,
                                     mlir::Operation *layer, Activation act,
                                     mlir::Value out, mlir::Value grad) {
  StablehloBuilder &b = lowering.b;
  auto splat = [&](float v) { return b.splatLike(v, out); };
  mlir::Value z;
  if (derivativeNeedsInput(act)) {
    z = lowering.keptForVJP.lookup(layer);
    assert(z && "the layer's forward pass keeps its activation input");
  }
  switch (act) {
  case Activation::Identity:
    return grad;
  case Activation::Relu: {
    mlir::Value zero = splat(0.0f);
    return b.select(b.compare(out, zero, Cmp::GT), grad, zero);
  }
  case Activation::Relu6: {
    mlir::Value zero = splat(0.0f), six = splat(6.0f);
    mlir::Value above = b.compare(out, zero, Cmp::GT);
    mlir::Value below = b.compare(out, six, Cmp::LT);
    return b.select(b.logicalAnd(above, below), grad, zero);
  }
  case Activation::Sigmoid:
    return b.mul(grad, b.mul(out, b.sub(splat(1.0f), out)));
  case Activation::Tanh:
    return b.mul(grad, b.sub(splat(1.0f), b.mul(out, out)));
  case Activation::Silu: {
    mlir::Value s = b.logistic(z);
    mlir::Value slope = b.mul(s, b.add(splat(1.0f),
                                       b.mul(z, b.sub(splat(1.0f), s))));
    return b.mul(grad, slope);
  }
  case Activation::Gelu: {
    mlir::Value density =
        b.mul(b.exp(b.mul(b.mul(z, z), splat(-0.5f))),
              splat(0.39894228040143268f));
    return b.mul(grad, b.add(normalCdf(b, z), b.mul(z, density)));
  }
  case Activation::GeluTanh: {
    auto [u, du] = geluTanhArgument(b, z);
    mlir::Value t = b.tanh(u), half = splat(0.5f);
    mlir::Value slope = b.add(
        b.mul(half, b.add(splat(1.0f), t)),
        b.mul(b.mul(half, z), b.mul(b.sub(splat(1.0f), b.mul(t, t)), du)));
    return b.mul(grad, slope);
  }
  case Activation::Hardswish: {
    mlir::Value zero = splat(0.0f);
    mlir::Value slope = b.add(b.mul(z, splat(1.0f / 3.0f)), splat(0.5f));
    mlir::Value inside = b.select(b.compare(z, splat(3.0f), Cmp::LE),
                                  b.mul(grad, slope), grad);
    return b.select(b.compare(z, splat(-3.0f), Cmp::LT), zero, inside);
  }
  case Activation::Hardsigmoid: {
    mlir::Value zero = splat(0.0f);
    mlir::Value above = b.compare(out, zero, Cmp::GT);
    mlir::Value below = b.compare(out, splat(1.0f), Cmp::LT);
    return b.select(b.logicalAnd(above, below),
                    b.mul(grad, splat(1.0f / 6.0f)), zero);
  }
  }
  llvm_unreachable("unknown activation");
}

} // namespace lean_mlir::netspec

#endif // LEAN_MLIR_LIB_DIALECT_NETSPEC_RULES_ACTIVATION_H
