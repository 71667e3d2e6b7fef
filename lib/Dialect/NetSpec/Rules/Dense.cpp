//===- Dense.cpp - dense: forward lowering and VJP ------------------------===//
//
// Part of lean-mlir.
//
// y = act(x @ w + b) with x : [N, in], w : [in, out], b : [out]. One form
// for every target: IREE's CPU backend runs these dot_generals as GEMMs.
//
//===----------------------------------------------------------------------===//

#include "Activation.h"

using namespace mlir;
using namespace lean_mlir;
using namespace lean_mlir::netspec;

Value DenseOp::emitForward(LayerLowering &lowering, ValueRange operands) {
  StablehloBuilder &b = lowering.b;
  Value y = b.dotGeneral(operands[0], operands[1], {1}, {0});
  y = b.add(y, b.broadcastInDim(operands[2], b.shape(y), {1}));
  return emitActivation(b, getActivation(), y);
}

void DenseOp::emitVJP(LayerLowering &lowering, ValueRange operands,
                      Value result, Value resultGrad, bool needInputGrad,
                      SmallVectorImpl<Value> &operandGrads) {
  StablehloBuilder &b = lowering.b;
  operandGrads.assign(3, Value());
  Value g = emitActivationVJP(b, getActivation(), result, resultGrad);
  operandGrads[2] = b.reduceSum(g, {0});                          // [out]
  operandGrads[1] = b.dotGeneral(operands[0], g, {0}, {0});       // x^T g
  if (needInputGrad)
    operandGrads[0] = b.dotGeneral(g, operands[1], {1}, {1});     // g w^T
}
