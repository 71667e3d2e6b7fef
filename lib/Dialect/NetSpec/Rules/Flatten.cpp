//===- Flatten.cpp - flatten: forward lowering and VJP --------------------===//
//
// Part of lean-mlir.
//
//===----------------------------------------------------------------------===//

#include "Activation.h"

using namespace mlir;
using namespace lean_mlir;
using namespace lean_mlir::netspec;

// Flatten reads its input NCHW (row-major over C, H, W). After a layer
// that works channels-last, the NHWC -> NCHW transpose that layer ends with
// is the one layout conversion the forward pass keeps, and its VJP's
// reshape is what the layer before transposes back.
Value FlattenOp::emitForward(LayerLowering &lowering, ValueRange operands) {
  StablehloBuilder &b = lowering.b;
  ArrayRef<int64_t> xs = b.shape(operands[0]);
  int64_t features = 1;
  for (int64_t d : xs.drop_front())
    features *= d;
  return b.reshape(operands[0], {xs[0], features});
}

void FlattenOp::emitVJP(LayerLowering &lowering, ValueRange operands,
                        Value result, Value resultGrad, bool needInputGrad,
                        SmallVectorImpl<Value> &operandGrads) {
  StablehloBuilder &b = lowering.b;
  operandGrads.assign(1, Value());
  if (needInputGrad)
    operandGrads[0] = b.reshape(resultGrad, b.shape(operands[0]));
}
