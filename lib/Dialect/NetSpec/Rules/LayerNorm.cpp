//===- LayerNorm.cpp - layer_norm: forward lowering and VJP ---------------===//
//
// Part of lean-mlir.
//
// layer_norm over the C channels of each sample ([N, C]) or of each position
// (NCHW; channels-last inside the rule on cpu and gpu, so the channel axis
// is the innermost one there):
//
//   mean = sum_c x_c / C     var = sum_c (x_c - mean)^2 / C   (biased)
//   x_hat = (x - mean) * inv,  inv = 1 / sqrt(var + eps)
//   y = weight * x_hat + bias
//
// and its VJP, with g the cotangent of y and gh = weight * g:
//
//   d weight = sum over N, H, W of g * x_hat     d bias = sum of g
//   d x = inv * (gh - mean_c(gh) - x_hat * mean_c(gh * x_hat))
//
// The sums over N, H, W go in stages (LayerLowering::channelSum); the means
// over the channels are short (C terms).
//
//===----------------------------------------------------------------------===//

#include "Activation.h"

using namespace mlir;
using namespace lean_mlir;
using namespace lean_mlir::netspec;

namespace {
/// Means over the channel axis and their broadcasts back, in compute layout.
struct OverChannels {
  StablehloBuilder &b;
  SmallVector<int64_t, 4> shape, rest; // the activation; it without channels
  int64_t channelDim, channels;

  LayerLowering &lowering;

  OverChannels(LayerLowering &lowering, Value computed)
      : b(lowering.b), shape(StablehloBuilder::shape(computed)),
        lowering(lowering) {
    channelDim = lowering.channelDim(shape.size());
    channels = shape[channelDim];
    for (auto [d, size] : llvm::enumerate(shape))
      if (int64_t(d) != channelDim)
        rest.push_back(size);
  }
  Value mean(Value v) const {
    return b.mul(b.reduceSum(v, {channelDim}), b.splat(1.0f / channels, rest));
  }
  /// A value without the channel axis, broadcast along it.
  Value spread(Value v) const {
    SmallVector<int64_t, 4> dims;
    for (int64_t d = 0; d < int64_t(shape.size()); ++d)
      if (d != channelDim)
        dims.push_back(d);
    return b.broadcastInDim(v, shape, dims);
  }
  /// A [C] vector broadcast along the activation.
  Value perChannel(Value c) const { return lowering.alongChannels(c, shape); }
};

/// x_hat and 1 / sqrt(var + eps) (without the channel axis).
std::pair<Value, Value> normalised(const OverChannels &oc, Value x, double eps) {
  StablehloBuilder &b = oc.b;
  Value centered = b.sub(x, oc.spread(oc.mean(x)));
  Value var = oc.mean(b.mul(centered, centered));
  Value inv = b.div(b.splat(1.0f, oc.rest),
                    b.sqrt(b.add(var, b.splat(eps, oc.rest))));
  return {b.mul(centered, oc.spread(inv)), inv};
}
} // namespace

Value LayerNormOp::emitForward(LayerLowering &lowering, ValueRange operands) {
  StablehloBuilder &b = lowering.b;
  Value x = lowering.enter(operands[0]);
  OverChannels oc(lowering, x);
  Value xhat = normalised(oc, x, getEpsilon().convertToDouble()).first;
  Value y = b.add(b.mul(xhat, oc.perChannel(operands[1])),
                  oc.perChannel(operands[2]));
  return lowering.leave(y);
}

void LayerNormOp::emitVJP(LayerLowering &lowering, ValueRange operands,
                          Value result, Value resultGrad, bool needInputGrad,
                          SmallVectorImpl<Value> &operandGrads) {
  StablehloBuilder &b = lowering.b;
  operandGrads.assign(3, Value());
  Value x = lowering.enter(operands[0]);
  Value g = lowering.enter(resultGrad);
  OverChannels oc(lowering, x);
  // The same ops as the forward pass's: the compiler's CSE shares them.
  auto [xhat, inv] = normalised(oc, x, getEpsilon().convertToDouble());
  {
    auto part = lowering.part("weight gradient");
    operandGrads[1] = lowering.channelSum(b.mul(g, xhat));
  }
  {
    auto part = lowering.part("bias gradient");
    operandGrads[2] = lowering.channelSum(g);
  }
  if (!needInputGrad)
    return;
  auto part = lowering.part("input gradient");
  Value gh = b.mul(g, oc.perChannel(operands[1]));
  Value centered = b.sub(gh, oc.spread(oc.mean(gh)));
  Value viaVar = b.mul(xhat, oc.spread(oc.mean(b.mul(gh, xhat))));
  operandGrads[0] =
      lowering.leave(b.mul(oc.spread(inv), b.sub(centered, viaVar)));
}
