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

// Ops are created in statement order (never two op-creating arguments in one
// call, whose evaluation order C++ leaves open), so the IR is the same
// whichever compiler built the pass.

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
  if (smoothing != 0.0) {
    Value kept = b.mul(target, b.splat(1.0 - smoothing, shape));
    target = b.add(kept, b.splat(smoothing / k, shape));
  }
  // Over the classes, then (in stages) over the batch.
  Value total = b.reduceSumStaged(b.reduceSum(b.mul(target, logProbs), {1}),
                                  {0});
  Value loss = b.mul(total, b.splat(-1.0f / n));
  if (dlogits) {
    Value diff = b.sub(b.exp(logProbs), target);
    *dlogits = b.mul(diff, b.splat(1.0f / n, shape));
  }
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

Value lean_mlir::emitTopKCount(StablehloBuilder &b, Value logits, Value labels,
                               int32_t k) {
  ArrayRef<int64_t> shape = StablehloBuilder::shape(logits);
  Value trueLogit = b.reduceSum(b.mul(logits, oneHot(b, labels, shape)), {1});
  // The true class's rank: how many classes score strictly higher (ties count
  // for the true class, as in the top-1 count).
  Value wanted = b.broadcastInDim(trueLogit, shape, {0});
  Value higher = b.convert(b.compare(logits, wanted, Cmp::GT), b.i32());
  Value rank = b.reduceSum(higher, {1});
  Value hit = b.compare(rank, b.splatI32(k, {shape[0]}), Cmp::LT);
  return b.reduceSum(b.convert(hit, b.i32()), {0});
}

StepScalars lean_mlir::emitStepScalars(StablehloBuilder &b,
                                       const OptimizerConfig &config,
                                       Value lr, Value step) {
  StepScalars scalars{lr, Value(), Value()};
  if (config.kind == OptimizerConfig::Kind::Adam) {
    Value stepF32 = b.convert(step, b.f32());
    Value t = b.add(stepF32, b.splat(1.0f));
    Value one = b.splat(1.0f);
    Value pow1 = b.pow(b.splat(0.9f), t);
    scalars.biasCorrection1 = b.sub(one, pow1);
    Value pow2 = b.pow(b.splat(0.999f), t);
    scalars.biasCorrection2 = b.sub(one, pow2);
  }
  return scalars;
}

Value lean_mlir::emitOptimizerUpdate(StablehloBuilder &b,
                                     const OptimizerConfig &config,
                                     const StepScalars &scalars, Value p,
                                     Value g, ValueRange state,
                                     SmallVectorImpl<Value> &newState) {
  ArrayRef<int64_t> shape = StablehloBuilder::shape(p);
  auto scaled = [&](double c, Value v) { return b.mul(b.splat(c, shape), v); };
  Value update;
  if (config.kind == OptimizerConfig::Kind::SGD) {
    if (config.weightDecay != 0.0)
      g = b.add(g, scaled(config.weightDecay, p));
    update = g;
    if (config.momentum != 0.0) {
      Value velocity = b.add(scaled(config.momentum, state[0]), g);
      newState.push_back(velocity);
      update = config.nesterov ? b.add(g, scaled(config.momentum, velocity))
                               : velocity;
    }
  } else {
    Value mDecayed = scaled(0.9, state[0]);
    Value m = b.add(mDecayed, scaled(0.1, g));
    Value vDecayed = scaled(0.999, state[1]);
    Value v = b.add(vDecayed, scaled(0.001, b.mul(g, g)));
    newState.append({m, v});
    Value mHat = b.div(m, scalarLike(b, scalars.biasCorrection1, m));
    Value vHat = b.div(v, scalarLike(b, scalars.biasCorrection2, v));
    Value root = b.sqrt(vHat);
    update = b.div(mHat, b.add(root, b.splat(1e-8f, shape)));
    // Decoupled weight decay: added to the update, not to the gradient.
    if (config.weightDecay != 0.0)
      update = b.add(update, scaled(config.weightDecay, p));
  }
  return b.sub(p, b.mul(scalarLike(b, scalars.lr, p), update));
}
