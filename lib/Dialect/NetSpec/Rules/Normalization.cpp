//===- Normalization.cpp - batch_norm, global_avg_pool, add ---------------===//
//
// Part of lean-mlir.
//
// The layers of the book's later chapters, forward and VJP side by side.
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
// Forms: the generic target works on NCHW and reduces over {0, 2, 3}. The
// cpu target works channels-last, like the convolutions around it (the
// layout conversions cancel, so a conv -> batch_norm -> conv chain stays
// NHWC), and takes each per-channel sum as a product with a ones vector
// over the [N*H*W, C] view: IREE runs that as a matrix-vector product
// along the contiguous rows, where a reduction over the outer dimensions
// first transposes the activation (the conv bias gradient measured the
// same).
//
//===----------------------------------------------------------------------===//

#include "Activation.h"

#include "mlir/IR/Value.h"

using namespace mlir;
using namespace lean_mlir;
using namespace lean_mlir::netspec;

namespace {

/// An activation in the layout a rule computes in: NCHW or [N, C]
/// (generic), NHWC (cpu, rank 4).
struct ChannelLayout {
  bool channelsLast = false;
  int64_t rank = 0;

  /// Converts a value from the rule's boundary layout into this one.
  Value enter(StablehloBuilder &b, Value v) const {
    return channelsLast && rank == 4 ? b.transpose(v, kToNHWC) : v;
  }
  /// Converts back to the boundary layout.
  Value leave(StablehloBuilder &b, Value v) const {
    return channelsLast && rank == 4 ? b.transpose(v, kToNCHW) : v;
  }
  int64_t channelDim() const { return rank == 4 && channelsLast ? 3 : 1; }
  SmallVector<int64_t, 3> reduceDims() const {
    if (rank == 2)
      return {0};
    return channelsLast ? SmallVector<int64_t, 3>{0, 1, 2}
                        : SmallVector<int64_t, 3>{0, 2, 3};
  }
};

ChannelLayout layoutFor(const LayerLowering &lowering, Value boundary) {
  return {lowering.isChannelsLast(),
          static_cast<int64_t>(StablehloBuilder::shape(boundary).size())};
}

/// Per-channel sums and broadcasts of one activation shape.
struct PerChannel {
  StablehloBuilder &b;
  ChannelLayout layout;
  SmallVector<int64_t, 4> shape; // the activation, in `layout`

  int64_t channels() const { return shape[layout.channelDim()]; }
  /// Values per channel (m).
  int64_t count() const {
    int64_t m = 1;
    for (int64_t d : layout.reduceDims())
      m *= shape[d];
    return m;
  }
  /// sum over everything but the channel: [C].
  Value sum(Value v) const {
    if (!layout.channelsLast)
      return b.reduceSum(v, layout.reduceDims());
    int64_t rows = count();
    return b.dotGeneral(b.splat(1.0f, {rows}),
                        b.reshape(v, {rows, channels()}), {0}, {0});
  }
  Value mean(Value v) const {
    return b.mul(sum(v), b.splat(1.0f / count(), {channels()}));
  }
  /// A [C] vector broadcast along the activation.
  Value bcast(Value c) const {
    return b.broadcastInDim(c, shape, {layout.channelDim()});
  }
  Value scaled(double factor, Value c) const {
    return b.mul(b.splat(factor, {channels()}), c);
  }
};

/// The batch's mean and biased variance of `x` (in `pc`'s layout).
std::pair<Value, Value> batchStatistics(const PerChannel &pc, Value x) {
  StablehloBuilder &b = pc.b;
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

//===----------------------------------------------------------------------===//
// batch_norm
//===----------------------------------------------------------------------===//

Value BatchNormOp::emitForward(LayerLowering &lowering, ValueRange operands) {
  StablehloBuilder &b = lowering.b;
  ChannelLayout layout = layoutFor(lowering, operands[0]);
  Value x = layout.enter(b, operands[0]);
  PerChannel pc{b, layout, SmallVector<int64_t, 4>(b.shape(x))};
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
  return layout.leave(b, emitActivation(b, getActivation(), y));
}

void BatchNormOp::emitVJP(LayerLowering &lowering, ValueRange operands,
                          Value result, Value resultGrad, bool needInputGrad,
                          SmallVectorImpl<Value> &operandGrads) {
  StablehloBuilder &b = lowering.b;
  operandGrads.assign(5, Value());
  ChannelLayout layout = layoutFor(lowering, operands[0]);
  Value x = layout.enter(b, operands[0]);
  PerChannel pc{b, layout, SmallVector<int64_t, 4>(b.shape(x))};
  Value scale = operands[1];
  double eps = getEpsilon().convertToDouble();

  // The same ops as the forward pass's, so the compiler's CSE shares them.
  Value mean = operands[3], var = operands[4];
  if (lowering.training)
    std::tie(mean, var) = batchStatistics(pc, x);
  Value inv = inverseStd(b, var, eps);
  Value xhat = b.mul(b.sub(x, pc.bcast(mean)), pc.bcast(inv));

  Value g = emitActivationVJP(b, getActivation(), layout.enter(b, result),
                              layout.enter(b, resultGrad));
  Value dshift = pc.sum(g);
  Value dscale = pc.sum(b.mul(g, xhat));
  operandGrads[1] = dscale;
  operandGrads[2] = dshift;
  if (!needInputGrad)
    return;
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
  operandGrads[0] = layout.leave(b, dx);
}

//===----------------------------------------------------------------------===//
// global_avg_pool
//===----------------------------------------------------------------------===//

// y[n, c] = sum_{h,w} x[n, c, h, w] / (H W); the VJP spreads g[n, c] / (H W)
// over the window. The cpu form reads the input channels-last (the
// convolution before it wrote it so) and its VJP hands the next
// convolution's VJP an NHWC cotangent.

Value GlobalAvgPoolOp::emitForward(LayerLowering &lowering,
                                   ValueRange operands) {
  StablehloBuilder &b = lowering.b;
  ChannelLayout layout = layoutFor(lowering, operands[0]);
  Value x = layout.enter(b, operands[0]);
  ArrayRef<int64_t> xs = b.shape(operands[0]); // NCHW
  SmallVector<int64_t, 2> spatial =
      layout.channelsLast ? SmallVector<int64_t, 2>{1, 2}
                          : SmallVector<int64_t, 2>{2, 3};
  Value sum = b.reduceSum(x, spatial);
  return b.mul(sum, b.splat(1.0f / (xs[2] * xs[3]), {xs[0], xs[1]}));
}

void GlobalAvgPoolOp::emitVJP(LayerLowering &lowering, ValueRange operands,
                              Value result, Value resultGrad,
                              bool needInputGrad,
                              SmallVectorImpl<Value> &operandGrads) {
  StablehloBuilder &b = lowering.b;
  operandGrads.assign(1, Value());
  if (!needInputGrad)
    return;
  ChannelLayout layout = layoutFor(lowering, operands[0]);
  ArrayRef<int64_t> xs = b.shape(operands[0]); // NCHW
  Value g = b.mul(resultGrad,
                  b.splat(1.0f / (xs[2] * xs[3]), {xs[0], xs[1]}));
  if (layout.channelsLast)
    operandGrads[0] = layout.leave(
        b, b.broadcastInDim(g, {xs[0], xs[2], xs[3], xs[1]}, {0, 3}));
  else
    operandGrads[0] = b.broadcastInDim(g, xs, {0, 1});
}

//===----------------------------------------------------------------------===//
// add
//===----------------------------------------------------------------------===//

// lhs + rhs; the VJP hands the cotangent to both. The cpu form adds
// channels-last when the operands come from channels-last layers.

Value AddOp::emitForward(LayerLowering &lowering, ValueRange operands) {
  StablehloBuilder &b = lowering.b;
  ChannelLayout layout = layoutFor(lowering, operands[0]);
  Value lhs = layout.enter(b, operands[0]);
  Value rhs = layout.enter(b, operands[1]);
  return layout.leave(b, b.add(lhs, rhs));
}

void AddOp::emitVJP(LayerLowering &lowering, ValueRange operands, Value result,
                    Value resultGrad, bool needInputGrad,
                    SmallVectorImpl<Value> &operandGrads) {
  operandGrads.assign({resultGrad, resultGrad});
}
