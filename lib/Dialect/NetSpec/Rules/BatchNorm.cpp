//===- BatchNorm.cpp - batch_norm: forward lowering and VJP ---------------===//
//
// Part of lean-mlir.
//
// batch_norm, per channel c over the m = N*H*W values x_j of that channel
// (m = N for a [N, C] input):
//
//   mean = sum_j x_j / m          var = sum_j (x_j - mean)^2 / m   (biased)
//   x_hat = (x - mean) * inv,     inv = 1 / sqrt(var + eps)
//   y = act(scale * x_hat + shift) = act(a * x + c),
//       a = scale * inv,  c = shift - mean * a
//
// and, with g the cotangent before the activation, the full VJP (through
// the batch mean and variance, not with the statistics held fixed):
//
//   d shift = sum_j g_j           d scale = sum_j g_j * x_hat_j
//   d x = a * (g - d shift / m - x_hat * d scale / m)
//
// In inference (predict, eval) mean and var are the running statistics.
// The forward pass writes y as one multiply-add per element (a and c are
// per-channel vectors), so the normalisation costs one pass over the
// activation besides the two statistics passes.
//
// The rule works in the target's compute layout (LayerLowering::enter:
// NHWC on cpu and gpu, so a conv -> batch_norm -> conv chain stays
// channels-last) and takes every per-channel sum with
// LayerLowering::channelSum, in stages: summed term after term in float32,
// 100,352 values (batch 128 at 28x28) put an error of about 1e-2 of its
// largest value into a one-step update of the shift; in stages it is
// PyTorch float32's (about 1e-6).
//
//===----------------------------------------------------------------------===//

#include "Activation.h"

#include "mlir/IR/Value.h"

using namespace mlir;
using namespace lean_mlir;
using namespace lean_mlir::netspec;

namespace {

/// Per-channel sums and broadcasts of one activation, in compute layout.
struct PerChannel {
  LayerLowering &lowering;
  SmallVector<int64_t, 4> shape; // the activation, in compute layout

  PerChannel(LayerLowering &lowering, Value computed)
      : lowering(lowering), shape(StablehloBuilder::shape(computed)) {}

  int64_t channelDim() const { return lowering.channelDim(shape.size()); }
  int64_t channels() const { return shape[channelDim()]; }
  /// Values per channel (m).
  int64_t count() const {
    int64_t m = 1;
    for (int64_t d : lowering.nonChannelDims(shape.size()))
      m *= shape[d];
    return m;
  }
  /// sum over everything but the channel: [C].
  Value sum(Value v) const { return lowering.channelSum(v); }
  Value mean(Value v) const {
    StablehloBuilder &b = lowering.b;
    return b.mul(sum(v), b.splat(1.0f / count(), {channels()}));
  }
  /// A [C] vector broadcast along the activation.
  Value bcast(Value c) const { return lowering.alongChannels(c, shape); }
  Value scaled(double factor, Value c) const {
    return lowering.b.mul(lowering.b.splat(factor, {channels()}), c);
  }
};

/// The batch's mean and biased variance of `x` (in `pc`'s layout).
std::pair<Value, Value> batchStatistics(const PerChannel &pc, Value x) {
  StablehloBuilder &b = pc.lowering.b;
  Value mean = pc.mean(x);
  Value centered = b.sub(x, pc.bcast(mean));
  Value var = pc.mean(b.mul(centered, centered));
  return {mean, var};
}

/// 1 / sqrt(var + eps), per channel.
Value inverseStd(StablehloBuilder &b, Value var, double eps) {
  int64_t c = StablehloBuilder::shape(var)[0];
  Value root = b.sqrt(b.add(var, b.splat(eps, {c})));
  return b.div(b.splat(1.0f, {c}), root);
}

} // namespace

Value BatchNormOp::emitForward(LayerLowering &lowering, ValueRange operands) {
  StablehloBuilder &b = lowering.b;
  Value x = lowering.enter(operands[0]);
  PerChannel pc(lowering, x);
  Value scale = operands[1], shift = operands[2];
  Value runningMean = operands[3], runningVar = operands[4];
  double eps = getEpsilon().convertToDouble();

  Value mean = runningMean, var = runningVar;
  if (lowering.training) {
    std::tie(mean, var) = batchStatistics(pc, x);
    // PyTorch's BatchNorm2d: the running variance takes the unbiased batch
    // variance (the pass rejects m = 1 in training functions).
    double momentum = getMomentum().convertToDouble();
    int64_t m = pc.count();
    Value newMean = b.add(pc.scaled(1 - momentum, runningMean),
                          pc.scaled(momentum, mean));
    Value unbiased = pc.scaled(double(m) / double(m - 1), var);
    Value newVar = b.add(pc.scaled(1 - momentum, runningVar),
                         pc.scaled(momentum, unbiased));
    lowering.stateUpdates.push_back({3, newMean});
    lowering.stateUpdates.push_back({4, newVar});
  }
  Value a = b.mul(scale, inverseStd(b, var, eps));
  Value c = b.sub(shift, b.mul(mean, a));
  Value y = b.add(b.mul(x, pc.bcast(a)), pc.bcast(c));
  return lowering.leave(emitActivation(lowering, *this, getActivation(), y));
}

void BatchNormOp::emitVJP(LayerLowering &lowering, ValueRange operands,
                          Value result, Value resultGrad, bool needInputGrad,
                          SmallVectorImpl<Value> &operandGrads) {
  StablehloBuilder &b = lowering.b;
  operandGrads.assign(5, Value());
  Value x = lowering.enter(operands[0]);
  PerChannel pc(lowering, x);
  Value scale = operands[1];
  double eps = getEpsilon().convertToDouble();

  // The statistics are the same ops as the forward pass's, so the
  // compiler's CSE shares them.
  Value mean = operands[3], var = operands[4];
  if (lowering.training)
    std::tie(mean, var) = batchStatistics(pc, x);
  Value inv = inverseStd(b, var, eps);
  // x + (-mean) is x - mean exactly, but not the forward's x - mean: were
  // the two one value (CSE), the compiler would keep it as a buffer for the
  // backward pass (a write and a read of the whole activation) instead of
  // fusing it into the variance's sum (ResNet train step about 5% faster).
  Value xhat = b.mul(b.add(x, pc.bcast(b.neg(mean))), pc.bcast(inv));

  Value g = emitActivationVJP(lowering, *this, getActivation(),
                              lowering.enter(result),
                              lowering.enter(resultGrad));
  Value dshift, dscale;
  {
    auto part = lowering.part("bias gradient");
    dshift = pc.sum(g);
  }
  {
    auto part = lowering.part("weight gradient");
    dscale = pc.sum(b.mul(g, xhat));
  }
  operandGrads[1] = dscale;
  operandGrads[2] = dshift;
  if (!needInputGrad)
    return;
  auto part = lowering.part("input gradient");
  Value a = pc.bcast(b.mul(scale, inv));
  Value dx;
  if (lowering.training) {
    double inverseCount = 1.0 / double(pc.count());
    Value centeredG = b.sub(g, pc.bcast(pc.scaled(inverseCount, dshift)));
    Value viaVar = b.mul(xhat, pc.bcast(pc.scaled(inverseCount, dscale)));
    dx = b.mul(a, b.sub(centeredG, viaVar));
  } else {
    // Fixed statistics: an affine map per channel.
    dx = b.mul(a, g);
  }
  operandGrads[0] = lowering.leave(dx);
}
