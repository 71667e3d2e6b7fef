//===- Lowering.cpp - lowering targets of the layer rules -----------------===//
//
// Part of lean-mlir.
//
// What each target decides, in one table (formsFor), and the helpers the
// rules emit those decisions with.
//
//===----------------------------------------------------------------------===//

#include "lean_mlir/Dialect/NetSpec/Lowering.h"

#include "mlir/IR/Block.h"
#include "mlir/IR/Operation.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/ErrorHandling.h"

using namespace mlir;
using namespace lean_mlir;
using namespace lean_mlir::netspec;

llvm::StringRef lean_mlir::netspec::stringifyLoweringTarget(
    LoweringTarget target) {
  switch (target) {
  case LoweringTarget::Generic:
    return "generic";
  case LoweringTarget::Cpu:
    return "cpu";
  case LoweringTarget::Gpu:
    return "gpu";
  }
  llvm_unreachable("unknown lowering target");
}

std::optional<LoweringTarget>
lean_mlir::netspec::symbolizeLoweringTarget(llvm::StringRef name) {
  return llvm::StringSwitch<std::optional<LoweringTarget>>(name)
      .Case("generic", LoweringTarget::Generic)
      .Case("cpu", LoweringTarget::Cpu)
      .Case("gpu", LoweringTarget::Gpu)
      .Default(std::nullopt);
}

//===----------------------------------------------------------------------===//
// The targets
//===----------------------------------------------------------------------===//

// Why each choice (IREE 3.13; the measurements are in docs/performance.md
// and docs/gpu.md):
//
// * channelsLast: NHWC convolutions with HWIO filters run at the CPU's GEMM
//   peak (book CNN conv2 forward 58 -> 9.8 ms); on an H100 the NHWC
//   convolution ran 0.53 ms against NCHW's 4.1.
// * hoistsParameterRelayouts: a filter transpose IREE may fuse into the
//   convolution turns it into a generic op on a slow path (476 ms instead
//   of 9.8), so re-layouts sit behind barriers. At the start of the
//   function, where they depend on nothing but the parameters: a barrier
//   in the middle of the step becomes a host wait, after which IREE frees
//   that region's transient buffer only by reference counting, and the CPU
//   driver's slab pool then grows by 64 MB slabs every few calls.
// * convWeightGradient: nine tap products run at GEMM speed on the CPU (70
//   -> 18-20 ms); on an H100 one product of the im2col rows batched over N
//   (1.10 ms against 58 ms for unbatched taps).
// * denseChunk: IREE's CUDA backend does not split a long contraction (the
//   6272 -> 512 layer 1.87 ms as one product, 0.18 ms in 8 chunks).
// * barriersGradients: with optimizer state a gradient feeds two updates,
//   which data tiling fuses into the GEMM's unpacking and then fails to
//   compile ("large vector sizes"); one barrier over all gradients keeps
//   them buffers without splitting the step into many regions.
const TargetForms &lean_mlir::netspec::formsFor(LoweringTarget target) {
  using WG = TargetForms::WeightGradient;
  static const TargetForms generic{/*channelsLast=*/false,
                                   /*hoistsParameterRelayouts=*/false,
                                   WG::Convolution, /*denseChunk=*/0,
                                   /*barriersGradients=*/false};
  static const TargetForms cpu{true, true, WG::Taps, 0, true};
  static const TargetForms gpu{true, true, WG::BatchedIm2col, 1024, true};
  switch (target) {
  case LoweringTarget::Generic:
    return generic;
  case LoweringTarget::Cpu:
    return cpu;
  case LoweringTarget::Gpu:
    return gpu;
  }
  llvm_unreachable("unknown lowering target");
}

//===----------------------------------------------------------------------===//
// LayerLowering
//===----------------------------------------------------------------------===//

Value LayerLowering::enter(Value boundary) {
  if (forms.channelsLast && StablehloBuilder::shape(boundary).size() == 4) {
    auto layout = part("layout");
    return b.transpose(boundary, kToNHWC);
  }
  return boundary;
}

Value LayerLowering::leave(Value computed) {
  if (forms.channelsLast && StablehloBuilder::shape(computed).size() == 4) {
    auto layout = part("layout");
    return b.transpose(computed, kToNCHW);
  }
  return computed;
}

SmallVector<int64_t, 4>
LayerLowering::computeShape(ArrayRef<int64_t> boundary) const {
  SmallVector<int64_t, 4> shape(boundary);
  if (forms.channelsLast && boundary.size() == 4)
    for (auto [i, d] : llvm::enumerate(kToNHWC))
      shape[i] = boundary[d];
  return shape;
}

int64_t LayerLowering::channelDim(int64_t rank) const {
  if (rank == 3) // a token sequence [N, T, C]: the channels last everywhere
    return 2;
  return rank == 4 && forms.channelsLast ? 3 : 1;
}

SmallVector<int64_t, 3> LayerLowering::nonChannelDims(int64_t rank) const {
  SmallVector<int64_t, 3> dims;
  for (int64_t d = 0; d < rank; ++d)
    if (d != channelDim(rank))
      dims.push_back(d);
  return dims;
}

Value LayerLowering::channelSum(Value computed) {
  int64_t rank = StablehloBuilder::shape(computed).size();
  return b.reduceSumStaged(computed, nonChannelDims(rank));
}

Value LayerLowering::alongChannels(Value perChannel, ArrayRef<int64_t> shape) {
  return b.broadcastInDim(perChannel, shape, {channelDim(shape.size())});
}

SmallVector<int64_t, 3> LayerLowering::spatialDims() const {
  SmallVector<int64_t, 3> spatial = nonChannelDims(4);
  spatial.erase(spatial.begin());
  return spatial;
}

/// H * W of a rank-4 activation of `shape` in compute layout.
static int64_t areaOf(const LayerLowering &lowering, ArrayRef<int64_t> shape) {
  SmallVector<int64_t, 3> spatial = lowering.spatialDims();
  return shape[spatial[0]] * shape[spatial[1]];
}

Value LayerLowering::spatialMean(Value computed) {
  int64_t area = areaOf(*this, StablehloBuilder::shape(computed));
  Value sum = b.reduceSumStaged(computed, spatialDims());
  return b.mul(sum, b.splat(1.0f / area, StablehloBuilder::shape(sum)));
}

Value LayerLowering::spatialMeanVJP(Value g, ArrayRef<int64_t> shape) {
  int64_t area = areaOf(*this, shape);
  return overSpace(b.mul(g, b.splat(1.0f / area, StablehloBuilder::shape(g))),
                   shape);
}

Value LayerLowering::overSpace(Value perSampleChannel, ArrayRef<int64_t> shape) {
  return b.broadcastInDim(perSampleChannel, shape, {0, channelDim(4)});
}

Value LayerLowering::parameterRelayout(
    Value param, llvm::function_ref<Value(Value)> relayout) {
  auto arg = dyn_cast<BlockArgument>(param);
  if (!forms.hoistsParameterRelayouts)
    return relayout(param);
  if (!arg || arg.getOwner() != entry)
    return b.optimizationBarrier(relayout(param));
  OpBuilder &builder = b.getBuilder();
  OpBuilder::InsertionGuard guard(builder);
  if (prologueEnd)
    builder.setInsertionPointAfter(prologueEnd);
  else
    builder.setInsertionPointToStart(entry);
  auto layout = part("layout");
  Value hoisted = b.optimizationBarrier(relayout(param));
  prologueEnd = hoisted.getDefiningOp();
  return hoisted;
}
