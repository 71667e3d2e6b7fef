//===- Add.cpp - add: forward lowering and VJP ----------------------------===//
//
// Part of lean-mlir.
//
//===----------------------------------------------------------------------===//

#include "Activation.h"

using namespace mlir;
using namespace lean_mlir;
using namespace lean_mlir::netspec;

// lhs + rhs; the VJP hands the cotangent to both. It adds in the compute
// layout (channels-last on cpu and gpu, where the operands come from
// channels-last layers and the layout conversions cancel).

Value AddOp::emitForward(LayerLowering &lowering, ValueRange operands) {
  Value lhs = lowering.enter(operands[0]);
  Value rhs = lowering.enter(operands[1]);
  return lowering.leave(lowering.b.add(lhs, rhs));
}

void AddOp::emitVJP(LayerLowering &lowering, ValueRange operands, Value result,
                    Value resultGrad, bool needInputGrad,
                    SmallVectorImpl<Value> &operandGrads) {
  operandGrads.assign({resultGrad, resultGrad});
}
