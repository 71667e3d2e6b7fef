//===- Reshape.cpp - flatten and relu: forward lowering and VJP -----------===//
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

// A standalone ReLU (after a residual add) works channels-last on the cpu
// target, so it does not break the NHWC chain between the layers around it.
namespace {
bool reluChannelsLast(LayerLowering &lowering, Value v) {
  return lowering.isChannelsLast() && StablehloBuilder::shape(v).size() == 4;
}
} // namespace

Value ReluOp::emitForward(LayerLowering &lowering, ValueRange operands) {
  StablehloBuilder &b = lowering.b;
  if (!reluChannelsLast(lowering, operands[0]))
    return emitActivation(b, Activation::Relu, operands[0]);
  Value y = emitActivation(b, Activation::Relu,
                           b.transpose(operands[0], kToNHWC));
  return b.transpose(y, kToNCHW);
}

void ReluOp::emitVJP(LayerLowering &lowering, ValueRange operands,
                     Value result, Value resultGrad, bool needInputGrad,
                     SmallVectorImpl<Value> &operandGrads) {
  StablehloBuilder &b = lowering.b;
  operandGrads.assign(1, Value());
  if (!needInputGrad)
    return;
  if (!reluChannelsLast(lowering, result)) {
    operandGrads[0] =
        emitActivationVJP(b, Activation::Relu, result, resultGrad);
    return;
  }
  Value g = emitActivationVJP(b, Activation::Relu,
                              b.transpose(result, kToNHWC),
                              b.transpose(resultGrad, kToNHWC));
  operandGrads[0] = b.transpose(g, kToNCHW);
}
