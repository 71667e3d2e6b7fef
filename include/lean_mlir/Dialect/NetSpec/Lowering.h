//===- Lowering.h - what a layer rule lowers with ---------------*- C++ -*-===//
//
// Part of lean-mlir.
//
// The layer rules (LayerOpInterface::emitForward / emitVJP) emit StableHLO
// through a LayerLowering: the builder, and the target whose forms to emit.
// A rule states its math once and asks the lowering how to emit the parts a
// target decides: the layout a rank-4 activation is computed in (enter /
// leave), a per-channel sum, a re-layout of a parameter, whether a long
// contraction is split. What each target decides is one table, TargetForms,
// in Lowering.cpp; no rule tests the target itself.
//
// The layouts at a rule's boundary never change with the target:
// activations are NCHW ([N, C, H, W]; or [N, C] features, or [N, T, C]
// token sequences), conv weights OIHW, dense weights [in, out]. The builder
// folds a layout conversion that undoes the previous layer's, so between two
// layers that both work channels-last nothing is copied.
//
//===----------------------------------------------------------------------===//

#ifndef LEAN_MLIR_DIALECT_NETSPEC_LOWERING_H
#define LEAN_MLIR_DIALECT_NETSPEC_LOWERING_H

#include "lean_mlir/StableHLO/Builder.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"

#include <optional>

namespace lean_mlir::netspec {

/// Which StableHLO forms the layer rules emit (TargetForms in Lowering.cpp
/// says what each one decides).
enum class LoweringTarget {
  /// The textbook forms, as the book writes them: NCHW convolutions, the
  /// weight gradient as a convolution of the input with the upstream
  /// gradient, max-pool routing with per-offset masks. Any StableHLO
  /// consumer runs them; the ROCm backend gets these.
  Generic,
  /// The forms IREE's CPU backend (llvm-cpu) runs fast: channels-last (NHWC)
  /// convolutions with HWIO filters built once behind optimization
  /// barriers, the weight gradient as one dot_general per kernel tap,
  /// one-channel convolutions as multiply-adds, and the non-overlapping
  /// max-pool backward as one first-maximum select on a reshaped view.
  Cpu,
  /// The cpu forms with the long contractions split for a GPU (IREE's CUDA
  /// backend gives a reduction with few outputs few threads): the weight
  /// gradient as one product of each sample's im2col rows batched over N and
  /// then summed over N, and dense layers with a long input (over 1024) as
  /// products over its chunks, then summed.
  Gpu,
};

/// "generic" / "cpu" / "gpu".
llvm::StringRef stringifyLoweringTarget(LoweringTarget target);
std::optional<LoweringTarget> symbolizeLoweringTarget(llvm::StringRef name);

/// What a target decides about the forms; one constant per target in
/// Lowering.cpp (formsFor). The fields are not independent: the
/// channels-last rules always take the weight gradient as Taps or
/// BatchedIm2col (Convolution is the generic forms'), and their filter
/// re-layouts need hoistsParameterRelayouts (unhoisted they get no barrier,
/// and a transpose fused into a convolution runs it on a slow path).
struct TargetForms {
  /// Rank-4 activations are computed NHWC inside rules, convolutions take
  /// HWIO filters.
  bool channelsLast;
  /// A re-layout of a parameter (a filter reversed or transposed for a
  /// convolution) is built once at the start of the function, behind an
  /// optimization barrier, instead of where the rule needs it.
  bool hoistsParameterRelayouts;
  /// The conv weight gradient as one product per kernel tap (cpu) or as one
  /// product of each sample's im2col rows batched over N (gpu); without
  /// either, one convolution of the input with the upstream gradient.
  enum class WeightGradient { Convolution, Taps, BatchedIm2col };
  WeightGradient convWeightGradient;
  /// Dense layers with more inputs than this are contracted in chunks of at
  /// most this many (0: never).
  int64_t denseChunk;
  /// The train step puts all gradients behind one optimization barrier
  /// before the optimizer updates.
  bool barriersGradients;
};

const TargetForms &formsFor(LoweringTarget target);

class LayerLowering {
public:
  /// Lowers into the function whose entry block is `entry` (parameters are
  /// its arguments; hoisted re-layouts go to its start).
  LayerLowering(StablehloBuilder &b, LoweringTarget target,
                mlir::Block *entry)
      : b(b), forms(formsFor(target)), entry(entry) {}

  StablehloBuilder &b;
  /// The target's forms (a copy: an option of the pass may override a choice
  /// the forms leave open, such as convWeightGradient).
  TargetForms forms;
  /// Whether the function being emitted trains (value_and_grad,
  /// train_step): layers with a train/inference difference (batch norm)
  /// then use the batch's statistics.
  bool training = false;
  /// Filled by a rule's emitForward in training mode: the new values of its
  /// non-trainable operands (operand index, value), which the train step
  /// returns in place of the old ones. The model walk clears it before
  /// each layer.
  llvm::SmallVector<std::pair<unsigned, mlir::Value>, 2> stateUpdates;

  /// What a layer's forward pass keeps for its own VJP, by layer op: the
  /// input of an activation whose derivative needs it (silu, gelu), in the
  /// layout the rule computes in. One LayerLowering emits a training
  /// function's forward and backward passes, so the VJP finds it here.
  llvm::DenseMap<mlir::Operation *, mlir::Value> keptForVJP;

  bool isChannelsLast() const { return forms.channelsLast; }

  /// The ops built while a Part is alive carry `loc("<part>"(<layer loc>))`:
  /// a NameLoc naming the part of the program ("forward", "backward",
  /// "input gradient", "weight gradient", "bias gradient", "layout", "loss",
  /// "optimizer") around the location of the layer (or parameter, or model
  /// output) they belong to. Nothing depends on them but the tools that say
  /// which layer and part an op, or a dispatch IREE built, holds.
  class Part {
  public:
    Part(StablehloBuilder &b, mlir::Location loc) : b(b), saved(b.getLoc()) {
      b.setLoc(loc);
    }
    ~Part() { b.setLoc(saved); }
    Part(const Part &) = delete;
    Part &operator=(const Part &) = delete;

  private:
    StablehloBuilder &b;
    mlir::Location saved;
  };
  /// Sets what the following parts belong to (a layer's, a parameter's or
  /// the model output's location).
  void setOwner(mlir::Location loc) { owner = loc; }
  [[nodiscard]] Part part(llvm::StringRef name) {
    return Part(b, partLoc(name));
  }
  mlir::Location partLoc(llvm::StringRef name) const {
    mlir::Location of = owner ? *owner : b.getLoc();
    return mlir::NameLoc::get(mlir::StringAttr::get(of->getContext(), name),
                              of);
  }

  /// An activation from the rule boundary's layout (NCHW or [N, C]) into
  /// the one the target computes in, and back.
  mlir::Value enter(mlir::Value boundary);
  mlir::Value leave(mlir::Value computed);
  /// The shape `enter` gives an activation of boundary shape `boundary`.
  llvm::SmallVector<int64_t, 4>
  computeShape(llvm::ArrayRef<int64_t> boundary) const;
  /// The channel dimension of a rank-`rank` activation in compute layout
  /// (a rank-3 one is a token sequence [N, T, C], channels last).
  int64_t channelDim(int64_t rank) const;
  /// The non-channel dimensions of a rank-`rank` activation in compute
  /// layout, outermost first.
  llvm::SmallVector<int64_t, 3> nonChannelDims(int64_t rank) const;

  /// Sum over every dimension but the channel one of an activation in
  /// compute layout: [C]. In stages (StablehloBuilder::reduceSumStaged), so
  /// its float32 error does not grow with N*H*W.
  mlir::Value channelSum(mlir::Value computed);

  /// The spatial dimensions of a rank-4 activation in compute layout.
  llvm::SmallVector<int64_t, 3> spatialDims() const;
  /// A [C] vector broadcast along the channel axis of an activation of
  /// `shape` (compute layout).
  mlir::Value alongChannels(mlir::Value perChannel,
                            llvm::ArrayRef<int64_t> shape);
  /// The mean over the spatial axes of a rank-4 activation in compute
  /// layout, [N, C], summed in stages; and its VJP, the [N, C] cotangent
  /// `g` over H * W spread back over an activation of `shape`.
  mlir::Value spatialMean(mlir::Value computed);
  mlir::Value spatialMeanVJP(mlir::Value g, llvm::ArrayRef<int64_t> shape);
  /// A [N, C] value broadcast over the spatial axes of a rank-4 activation
  /// of `shape` (compute layout).
  mlir::Value overSpace(mlir::Value perSampleChannel,
                        llvm::ArrayRef<int64_t> shape);

  /// `relayout(param)`, where `param` is a parameter (an argument of the
  /// function): with hoistsParameterRelayouts, built once at the start of
  /// the function behind an optimization barrier, so it stays its own
  /// dispatch (fused into a convolution, a filter transpose makes the
  /// convolution a slow generic op) and the buffers of the rest of the step
  /// are not split by a barrier. Otherwise built here.
  mlir::Value parameterRelayout(
      mlir::Value param,
      llvm::function_ref<mlir::Value(mlir::Value)> relayout);

private:
  mlir::Block *entry;
  std::optional<mlir::Location> owner;
  /// The last op of the hoisted re-layouts at the function's start.
  mlir::Operation *prologueEnd = nullptr;
};

/// NCHW -> NHWC and back.
inline constexpr int64_t kToNHWC[] = {0, 2, 3, 1};
inline constexpr int64_t kToNCHW[] = {0, 3, 1, 2};

} // namespace lean_mlir::netspec

#endif // LEAN_MLIR_DIALECT_NETSPEC_LOWERING_H
