//===- LayerScale.cpp - layer_scale: forward lowering and VJP -------------===//
//
// Part of lean-mlir.
//
// y = x * gamma, gamma one factor per channel ([C, 1, 1]); in the compute
// layout. VJP: dx = g * gamma, dgamma = sum over N, H, W of g * x (in
// stages, LayerLowering::channelSum).
//
//===----------------------------------------------------------------------===//

#include "Activation.h"

using namespace mlir;
using namespace lean_mlir;
using namespace lean_mlir::netspec;

namespace {
/// gamma as [C], broadcast over `computed` along its channel axis.
Value perChannel(LayerLowering &lowering, Value gamma, Value computed) {
  int64_t c = StablehloBuilder::shape(gamma)[0];
  return lowering.alongChannels(lowering.b.reshape(gamma, {c}),
                                StablehloBuilder::shape(computed));
}
} // namespace

Value LayerScaleOp::emitForward(LayerLowering &lowering, ValueRange operands) {
  Value x = lowering.enter(operands[0]);
  return lowering.leave(
      lowering.b.mul(x, perChannel(lowering, operands[1], x)));
}

void LayerScaleOp::emitVJP(LayerLowering &lowering, ValueRange operands,
                           Value result, Value resultGrad, bool needInputGrad,
                           SmallVectorImpl<Value> &operandGrads) {
  StablehloBuilder &b = lowering.b;
  operandGrads.assign(2, Value());
  Value x = lowering.enter(operands[0]);
  Value g = lowering.enter(resultGrad);
  {
    auto part = lowering.part("weight gradient");
    operandGrads[1] = b.reshape(lowering.channelSum(b.mul(g, x)),
                                b.shape(operands[1]));
  }
  if (!needInputGrad)
    return;
  auto part = lowering.part("input gradient");
  operandGrads[0] =
      lowering.leave(b.mul(g, perChannel(lowering, operands[1], x)));
}
