//===- Training.cpp - loss and optimizer updates in StableHLO -------------===//
//
// Part of lean-mlir.
//
//===----------------------------------------------------------------------===//

#include "lean_mlir/Conversion/Training.h"

using namespace mlir;
using namespace lean_mlir;

namespace {
/// One-hot f32 [N, K] of i32 labels [N].
Value oneHot(StablehloBuilder &b, Value labels, ArrayRef<int64_t> shape) {
  Value classes = b.iota(shape, 1, b.i32());
  Value wanted = b.broadcastInDim(labels, shape, {0});
  return b.convert(b.compare(classes, wanted, Cmp::EQ), b.f32());
}

Value scalarLike(StablehloBuilder &b, Value scalar, Value like) {
  return b.broadcastInDim(scalar, StablehloBuilder::shape(like), {});
}
} // namespace

Value lean_mlir::emitSoftmaxCrossEntropy(StablehloBuilder &b, Value logits,
                                         Value labels, double smoothing,
                                         Value *dlogits) {
  ArrayRef<int64_t> shape = StablehloBuilder::shape(logits);
  int64_t n = shape[0], k = shape[1];
  // log_softmax, shifted by the row max for stability.
  Value rowMax = b.broadcastInDim(b.reduceMax(logits, {1}), shape, {0});
  Value shifted = b.sub(logits, rowMax);
  Value logSum = b.log(b.reduceSum(b.exp(shifted), {1}));
  Value logProbs = b.sub(shifted, b.broadcastInDim(logSum, shape, {0}));
  Value target = oneHot(b, labels, shape);
  if (smoothing != 0.0)
    target = b.add(b.mul(target, b.splat(1.0 - smoothing, shape)),
                   b.splat(smoothing / k, shape));
  Value total = b.reduceSum(b.mul(target, logProbs), {0, 1});
  Value loss = b.mul(total, b.splat(-1.0f / n));
  if (dlogits)
    *dlogits = b.mul(b.sub(b.exp(logProbs), target), b.splat(1.0f / n, shape));
  return loss;
}

Value lean_mlir::emitCorrectCount(StablehloBuilder &b, Value logits,
                                  Value labels) {
  ArrayRef<int64_t> shape = StablehloBuilder::shape(logits);
  Value trueLogit = b.reduceSum(b.mul(logits, oneHot(b, labels, shape)), {1});
  // A tie for the maximum counts as correct (argmax would pick the first).
  Value hit = b.compare(trueLogit, b.reduceMax(logits, {1}), Cmp::GE);
  return b.reduceSum(b.convert(hit, b.i32()), {0});
}

Value lean_mlir::emitOptimizerUpdate(StablehloBuilder &b,
                                     const OptimizerConfig &config, Value p,
                                     Value g, ValueRange state, Value lr,
                                     Value step,
                                     SmallVectorImpl<Value> &newState) {
  ArrayRef<int64_t> shape = StablehloBuilder::shape(p);
  auto scaled = [&](double c, Value v) { return b.mul(b.splat(c, shape), v); };
  Value update;
  if (config.kind == OptimizerConfig::Kind::SGD) {
    if (config.weightDecay != 0.0)
      g = b.add(g, scaled(config.weightDecay, p));
    update = g;
    if (config.momentum != 0.0) {
      update = b.add(scaled(config.momentum, state[0]), g);
      newState.push_back(update);
    }
  } else {
    Value m = b.add(scaled(0.9, state[0]), scaled(0.1, g));
    Value v = b.add(scaled(0.999, state[1]), scaled(0.001, b.mul(g, g)));
    newState.append({m, v});
    // Bias corrections from t = step + 1, computed on scalars.
    Value t = b.add(b.convert(step, b.f32()), b.splat(1.0f));
    Value bc1 = b.sub(b.splat(1.0f), b.pow(b.splat(0.9f), t));
    Value bc2 = b.sub(b.splat(1.0f), b.pow(b.splat(0.999f), t));
    Value mHat = b.div(m, scalarLike(b, bc1, m));
    Value vHat = b.div(v, scalarLike(b, bc2, v));
    update = b.div(mHat, b.add(b.sqrt(vHat), b.splat(1e-8f, shape)));
    if (config.weightDecay != 0.0)
      update = b.add(update, scaled(config.weightDecay, p));
  }
  return b.sub(p, b.mul(scalarLike(b, lr, p), update));
}
