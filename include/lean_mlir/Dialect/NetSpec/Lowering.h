//===- Lowering.h - what a layer rule lowers with ---------------*- C++ -*-===//
//
// Part of lean-mlir.
//
// The layer rules (LayerOpInterface::emitForward / emitVJP) emit StableHLO
// through a LayerLowering: the builder, and the target whose StableHLO forms
// to emit. The layouts at a rule's boundary never change with the target:
// activations are NCHW ([N, C, H, W]), conv weights OIHW, dense weights
// [in, out]. Inside a rule, a target may pick other layouts and op forms;
// the builder folds a layout conversion that undoes the previous layer's,
// so between two layers that both work channels-last nothing is copied.
//
//===----------------------------------------------------------------------===//

#ifndef LEAN_MLIR_DIALECT_NETSPEC_LOWERING_H
#define LEAN_MLIR_DIALECT_NETSPEC_LOWERING_H

#include "lean_mlir/StableHLO/Builder.h"

#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"

#include <optional>

namespace lean_mlir::netspec {

/// Which StableHLO forms the layer rules emit.
enum class LoweringTarget {
  /// The textbook forms, as the book writes them: NCHW convolutions, the
  /// weight gradient as a convolution of the input with the upstream
  /// gradient, max-pool routing with per-offset masks. Any StableHLO
  /// consumer runs them; the ROCm backend gets these.
  Generic,
  /// The forms IREE's CPU backend (llvm-cpu) runs fast, measured at the
  /// book's CNN shapes: channels-last (NHWC) convolutions with HWIO
  /// filters, filter re-layouts behind optimization barriers, the weight
  /// gradient as one dot_general per kernel tap, one-channel convolutions as
  /// multiply-adds, and the non-overlapping max-pool backward as one
  /// first-maximum select on a reshaped view. Same numbers, to float32
  /// rounding.
  Cpu,
  /// The cpu forms, but with the long reductions split for a GPU (IREE's
  /// CUDA backend gives a reduction with few outputs few threads): the
  /// weight gradient as one product of each sample's im2col rows batched
  /// over N and then summed over N, bias gradients in two stages, and dense
  /// layers with a long input (over 1024) as products over its chunks, then
  /// summed.
  Gpu,
};

/// "generic" / "cpu" / "gpu".
llvm::StringRef stringifyLoweringTarget(LoweringTarget target);
std::optional<LoweringTarget> symbolizeLoweringTarget(llvm::StringRef name);

struct LayerLowering {
  StablehloBuilder &b;
  LoweringTarget target = LoweringTarget::Generic;
  /// Whether the function being emitted trains (value_and_grad,
  /// train_step): layers with a train/inference difference (batch norm)
  /// then use the batch's statistics.
  bool training = false;
  /// Filled by a rule's emitForward in training mode: the new values of its
  /// non-trainable operands (operand index, value), which the train step
  /// returns in place of the old ones. The model walk clears it before
  /// each layer.
  llvm::SmallVector<std::pair<unsigned, mlir::Value>, 2> stateUpdates;

  /// The channels-last forms (cpu and gpu): NHWC convolutions, HWIO
  /// filters behind barriers, taps for the weight gradient.
  bool isChannelsLast() const { return target != LoweringTarget::Generic; }
  /// Long reductions split into parallel partial sums (gpu).
  bool splitsReductions() const { return target == LoweringTarget::Gpu; }
};

/// NCHW -> NHWC and back.
inline constexpr int64_t kToNHWC[] = {0, 2, 3, 1};
inline constexpr int64_t kToNCHW[] = {0, 3, 1, 2};

} // namespace lean_mlir::netspec

#endif // LEAN_MLIR_DIALECT_NETSPEC_LOWERING_H
