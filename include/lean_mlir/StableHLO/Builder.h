//===- Builder.h - typed builder for generic-form StableHLO -----*- C++ -*-===//
//
// Part of lean-mlir.
//
// StableHLO is not part of upstream MLIR, so lean-mlir emits its ops in
// MLIR's generic form (unregistered operations whose dialect attributes are
// opaque attributes), which IREE and StableHLO's own tools parse as the real
// thing. This class is the only place that spells StableHLO op names and
// attribute syntax: one method per op, result types computed here, so
// passes never build op names or attribute strings by hand.
//
// The context must allow unregistered dialects for the result to verify
// (lean-mlir-opt --allow-unregistered-dialect; the Python side sets it).
//
//===----------------------------------------------------------------------===//

#ifndef LEAN_MLIR_STABLEHLO_BUILDER_H
#define LEAN_MLIR_STABLEHLO_BUILDER_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Value.h"

namespace lean_mlir {

/// Convolution dimension numbers in StableHLO's compact notation, for
/// example `[b, f, 0, 1]x[o, i, 0, 1]->[b, f, 0, 1]` (NCHW input, OIHW
/// kernel, NCHW output). Each string names the role of every dimension in
/// order; the builder derives the result shape from them.
struct ConvDims {
  llvm::StringRef lhs, rhs, out;
};

/// Comparison direction of `stablehlo.compare`.
enum class Cmp { EQ, NE, GE, GT, LE, LT };

class StablehloBuilder {
public:
  StablehloBuilder(mlir::OpBuilder &builder, mlir::Location loc)
      : b(builder), loc(loc) {}

  mlir::OpBuilder &getBuilder() { return b; }
  mlir::Location getLoc() { return loc; }
  /// Emits subsequent ops with `newLoc` (for example a layer's location).
  void setLoc(mlir::Location newLoc) { loc = newLoc; }

  mlir::Type f32();
  mlir::Type i32();
  static llvm::ArrayRef<int64_t> shape(mlir::Value v);

  // Constants.
  /// A splat f32 tensor of `shape` (rank 0 for a scalar).
  mlir::Value splat(float value, llvm::ArrayRef<int64_t> shape = {});
  mlir::Value splatI32(int32_t value, llvm::ArrayRef<int64_t> shape = {});
  /// An f32 scalar broadcast to the shape of `like`.
  mlir::Value splatLike(float value, mlir::Value like);

  // Elementwise (operands of one shape; result of that shape).
  mlir::Value add(mlir::Value a, mlir::Value c);
  mlir::Value sub(mlir::Value a, mlir::Value c);
  mlir::Value mul(mlir::Value a, mlir::Value c);
  mlir::Value div(mlir::Value a, mlir::Value c);
  mlir::Value max(mlir::Value a, mlir::Value c);
  mlir::Value min(mlir::Value a, mlir::Value c);
  mlir::Value pow(mlir::Value a, mlir::Value c);
  mlir::Value neg(mlir::Value a);
  mlir::Value exp(mlir::Value a);
  mlir::Value log(mlir::Value a);
  mlir::Value sqrt(mlir::Value a);
  /// 1 / (1 + exp(-a)).
  mlir::Value logistic(mlir::Value a);
  mlir::Value tanh(mlir::Value a);
  /// The error function, `chlo.erf`: StableHLO has no op for it, and CHLO
  /// (the client ops StableHLO consumers such as IREE and XLA expand into
  /// StableHLO) has; its expansion is a float32 rational approximation.
  mlir::Value erf(mlir::Value a);
  mlir::Value logicalAnd(mlir::Value a, mlir::Value c);
  mlir::Value logicalOr(mlir::Value a, mlir::Value c);
  mlir::Value logicalNot(mlir::Value a);
  /// i1 tensor of the operands' shape.
  mlir::Value compare(mlir::Value a, mlir::Value c, Cmp direction);
  mlir::Value select(mlir::Value pred, mlir::Value onTrue, mlir::Value onFalse);
  mlir::Value convert(mlir::Value a, mlir::Type elementType);

  // Shape ops.
  mlir::Value broadcastInDim(mlir::Value a, llvm::ArrayRef<int64_t> shape,
                             llvm::ArrayRef<int64_t> dims);
  mlir::Value reshape(mlir::Value a, llvm::ArrayRef<int64_t> shape);
  mlir::Value reverse(mlir::Value a, llvm::ArrayRef<int64_t> dims);
  /// `stablehlo.transpose`: result dimension `i` is `a`'s dimension
  /// `permutation[i]`. A transpose of a transpose that undoes it folds to the
  /// original value (layout conversions of neighbouring layers cancel; the
  /// lowering erases the ones left unused).
  mlir::Value transpose(mlir::Value a, llvm::ArrayRef<int64_t> permutation);
  /// Operands of one element type and rank, joined along `dim`.
  mlir::Value concatenate(mlir::ValueRange values, int64_t dim);
  mlir::Value slice(mlir::Value a, llvm::ArrayRef<int64_t> start,
                    llvm::ArrayRef<int64_t> limit,
                    llvm::ArrayRef<int64_t> strides);
  /// `stablehlo.pad`; `interior` inserts that many pad values between
  /// elements.
  mlir::Value pad(mlir::Value a, mlir::Value padValue,
                  llvm::ArrayRef<int64_t> low, llvm::ArrayRef<int64_t> high,
                  llvm::ArrayRef<int64_t> interior);
  mlir::Value iota(llvm::ArrayRef<int64_t> shape, int64_t dim,
                   mlir::Type elementType);
  /// `stablehlo.optimization_barrier` of one value: the compiler may not
  /// move computation across it, so what produced `a` stays its own
  /// dispatch instead of being fused into the consumer.
  mlir::Value optimizationBarrier(mlir::Value a);
  /// One `stablehlo.optimization_barrier` over all of `values`; returns its
  /// results, in order.
  llvm::SmallVector<mlir::Value> optimizationBarrier(mlir::ValueRange values);

  // Contractions.
  /// Result: the batching dims, then lhs's free dims, then rhs's.
  mlir::Value dotGeneral(mlir::Value lhs, mlir::Value rhs,
                         llvm::ArrayRef<int64_t> lhsContracting,
                         llvm::ArrayRef<int64_t> rhsContracting,
                         llvm::ArrayRef<int64_t> lhsBatching = {},
                         llvm::ArrayRef<int64_t> rhsBatching = {});
  /// 2-D convolution. `padding` is {lo0, hi0, lo1, hi1}. `featureGroups`
  /// splits the lhs features (and the output features) into that many
  /// groups convolved apart; `batchGroups` splits the lhs batch (and the
  /// output features) instead, which is how a grouped convolution's weight
  /// gradient contracts the batch.
  mlir::Value convolution(mlir::Value lhs, mlir::Value rhs, ConvDims dims,
                          llvm::ArrayRef<int64_t> strides,
                          llvm::ArrayRef<int64_t> padding,
                          llvm::ArrayRef<int64_t> lhsDilation,
                          llvm::ArrayRef<int64_t> rhsDilation,
                          int64_t featureGroups = 1, int64_t batchGroups = 1);

  // Reductions (f32 or i32 by the operand's element type).
  mlir::Value reduceSum(mlir::Value a, llvm::ArrayRef<int64_t> dims);
  /// The sum over `dims` as a chain of reductions over one dimension each,
  /// innermost first, a dimension longer than kMaxSumStage split in
  /// factors. One reduction adds its terms one after another, so its
  /// float32 error grows with their count (1e5 terms: about 1e5 ulps in the
  /// worst case); in stages it grows with the stages' lengths added (28 + 28
  /// + 128 for [128, 28, 28, C]). Same result shape as reduceSum.
  mlir::Value reduceSumStaged(mlir::Value a, llvm::ArrayRef<int64_t> dims);
  static constexpr int64_t kMaxSumStage = 128;
  mlir::Value reduceMax(mlir::Value a, llvm::ArrayRef<int64_t> dims);
  /// Minimum over `dims` of an i32 tensor.
  mlir::Value reduceMinI32(mlir::Value a, llvm::ArrayRef<int64_t> dims);
  /// Max over windows with no padding (`window` and `strides` per
  /// dimension).
  mlir::Value reduceWindowMax(mlir::Value a, llvm::ArrayRef<int64_t> window,
                              llvm::ArrayRef<int64_t> strides);
  /// Sum over windows with no padding (as reduceWindowMax).
  mlir::Value reduceWindowSum(mlir::Value a, llvm::ArrayRef<int64_t> window,
                              llvm::ArrayRef<int64_t> strides);

private:
  mlir::Value create(llvm::StringRef name, mlir::ValueRange operands,
                     mlir::Type result,
                     llvm::ArrayRef<mlir::NamedAttribute> attrs = {});
  mlir::Value unary(llvm::StringRef name, mlir::Value a);
  mlir::Value binary(llvm::StringRef name, mlir::Value a, mlir::Value c);
  mlir::Value reduce(mlir::Value a, llvm::ArrayRef<int64_t> dims,
                     llvm::StringRef combiner, mlir::Value init);
  /// reduce_window of `a` from `init` with `combiner` ("maximum", "add").
  mlir::Value reduceWindow(mlir::Value a, mlir::Value init,
                           llvm::ArrayRef<int64_t> window,
                           llvm::ArrayRef<int64_t> strides,
                           llvm::StringRef combiner);
  /// Fills `region` with `^bb0(%a, %b): %r = combiner(%a, %b); return %r`
  /// over rank-0 tensors of `elementType`.
  void buildCombiner(mlir::Region &region, llvm::StringRef combiner,
                     mlir::Type elementType);
  mlir::Attribute opaque(llvm::StringRef body);
  mlir::RankedTensorType tensor(llvm::ArrayRef<int64_t> shape,
                                mlir::Type elementType);

  mlir::OpBuilder &b;
  mlir::Location loc;
};

} // namespace lean_mlir

#endif // LEAN_MLIR_STABLEHLO_BUILDER_H
