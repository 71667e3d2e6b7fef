//===- Reshape.cpp - flatten and relu: forward lowering and VJP -----------===//
//
// Part of lean-mlir.
//
//===----------------------------------------------------------------------===//

#include "Activation.h"

using namespace mlir;
using namespace lean_mlir;
using namespace lean_mlir::netspec;

Value FlattenOp::emitForward(StablehloBuilder &b, ValueRange operands) {
  ArrayRef<int64_t> xs = b.shape(operands[0]);
  int64_t features = 1;
  for (int64_t d : xs.drop_front())
    features *= d;
  return b.reshape(operands[0], {xs[0], features});
}

void FlattenOp::emitVJP(StablehloBuilder &b, ValueRange operands, Value result,
                        Value resultGrad, bool needInputGrad,
                        SmallVectorImpl<Value> &operandGrads) {
  operandGrads.assign(1, Value());
  if (needInputGrad)
    operandGrads[0] = b.reshape(resultGrad, b.shape(operands[0]));
}

Value ReluOp::emitForward(StablehloBuilder &b, ValueRange operands) {
  return emitActivation(b, Activation::Relu, operands[0]);
}

void ReluOp::emitVJP(StablehloBuilder &b, ValueRange operands, Value result,
                     Value resultGrad, bool needInputGrad,
                     SmallVectorImpl<Value> &operandGrads) {
  operandGrads.assign(1, Value());
  if (needInputGrad)
    operandGrads[0] = emitActivationVJP(b, Activation::Relu, result, resultGrad);
}
