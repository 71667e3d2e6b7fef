//===- Training.h - loss and optimizer updates in StableHLO -----*- C++ -*-===//
//
// Part of lean-mlir. The pieces of a train step that are not layers: the
// softmax cross-entropy loss (with its gradient), the accuracy count, and
// the optimizer updates. Their semantics are fixed (PyTorch's conventions)
// so results can be checked from outside.
//
//===----------------------------------------------------------------------===//

#ifndef LEAN_MLIR_CONVERSION_TRAINING_H
#define LEAN_MLIR_CONVERSION_TRAINING_H

#include "lean_mlir/StableHLO/Builder.h"

namespace lean_mlir {

/// Mean over the batch of the softmax cross-entropy of `logits` [N, K]
/// against i32 `labels` [N], with label smoothing `smoothing`: the target is
/// (1 - smoothing) * one_hot + smoothing / K. Returns the rank-0 loss; if
/// `dlogits` is given, also sets it to d loss / d logits =
/// (softmax(logits) - target) / N.
mlir::Value emitSoftmaxCrossEntropy(StablehloBuilder &b, mlir::Value logits,
                                    mlir::Value labels, double smoothing,
                                    mlir::Value *dlogits = nullptr);

/// Number of samples (rank-0 i32) whose true-class logit is the row maximum.
mlir::Value emitCorrectCount(StablehloBuilder &b, mlir::Value logits,
                             mlir::Value labels);

/// Number of samples (rank-0 i32) whose true class is among the `k` highest
/// logits: fewer than `k` classes score strictly higher than it.
mlir::Value emitTopKCount(StablehloBuilder &b, mlir::Value logits,
                          mlir::Value labels, int32_t k);

struct OptimizerConfig {
  enum class Kind { SGD, Adam };
  Kind kind = Kind::SGD;
  double momentum = 0.0;
  /// Nesterov momentum (SGD with momentum only).
  bool nesterov = false;
  double weightDecay = 0.0;

  /// State tensors per parameter, each of the parameter's shape:
  /// SGD with momentum: {velocity}; plain SGD: {}; Adam: {m, v}.
  unsigned numStateTensors() const {
    return kind == Kind::Adam ? 2 : (momentum != 0.0 ? 1 : 0);
  }

  /// The names of those state tensors (their `netspec.role` slots), in the
  /// order the train step takes them.
  llvm::ArrayRef<llvm::StringLiteral> stateSlotNames() const {
    static constexpr llvm::StringLiteral adam[] = {"m", "v"};
    static constexpr llvm::StringLiteral sgd[] = {"velocity"};
    if (kind == Kind::Adam)
      return adam;
    return llvm::ArrayRef(sgd).take_front(numStateTensors());
  }
};

/// Per-step scalars shared by every parameter's update: the learning rate
/// and, for Adam, the bias corrections 1 - 0.9^t and 1 - 0.999^t.
struct StepScalars {
  mlir::Value lr, biasCorrection1, biasCorrection2;
};

/// `lr` is a rank-0 f32, `step` a rank-0 i32 (0 for the first step, so
/// t = step + 1).
StepScalars emitStepScalars(StablehloBuilder &b, const OptimizerConfig &config,
                            mlir::Value lr, mlir::Value step);

/// Emits one parameter's update and returns the new parameter; `newState`
/// receives the new state tensors (same order as `state`).
///
///   SGD:  g += wd * p;  v = momentum * v + g;  p -= lr * v   (v = g if no
///         momentum; Nesterov: p -= lr * (g + momentum * v), as PyTorch)
///   Adam: m = 0.9 m + 0.1 g;  v = 0.999 v + 0.001 g^2;
///         p -= lr * (m / (1 - 0.9^t) / (sqrt(v / (1 - 0.999^t)) + 1e-8)
///                    + wd * p)
mlir::Value emitOptimizerUpdate(StablehloBuilder &b,
                                const OptimizerConfig &config,
                                const StepScalars &scalars, mlir::Value p,
                                mlir::Value g, mlir::ValueRange state,
                                llvm::SmallVectorImpl<mlir::Value> &newState);

} // namespace lean_mlir

#endif // LEAN_MLIR_CONVERSION_TRAINING_H
