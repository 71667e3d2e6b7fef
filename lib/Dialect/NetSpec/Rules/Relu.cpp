//===- Relu.cpp - relu: forward lowering and VJP --------------------------===//
//
// Part of lean-mlir.
//
//===----------------------------------------------------------------------===//

#include "Activation.h"

using namespace mlir;
using namespace lean_mlir;
using namespace lean_mlir::netspec;

// A standalone ReLU (after a residual add) works in the compute layout, so
// on cpu and gpu it does not break the NHWC chain between the layers around
// it.
Value ReluOp::emitForward(LayerLowering &lowering, ValueRange operands) {
  Value y = emitActivation(lowering, *this, Activation::Relu,
                           lowering.enter(operands[0]));
  return lowering.leave(y);
}

void ReluOp::emitVJP(LayerLowering &lowering, ValueRange operands,
                     Value result, Value resultGrad, bool needInputGrad,
                     SmallVectorImpl<Value> &operandGrads) {
  operandGrads.assign(1, Value());
  if (!needInputGrad)
    return;
  Value g = emitActivationVJP(lowering, *this, Activation::Relu,
                              lowering.enter(result),
                              lowering.enter(resultGrad));
  operandGrads[0] = lowering.leave(g);
}
