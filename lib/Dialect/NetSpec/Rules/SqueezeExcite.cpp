//===- SqueezeExcite.cpp - squeeze_excite: forward lowering and VJP -------===//
//
// Part of lean-mlir.
//
// With x the input in the compute layout (NHWC on cpu and gpu), C channels,
// S squeeze channels and m = H * W:
//
//   s = sum_{h,w} x / m                          [N, C]
//   z1 = s W1^T + b1,  h = act(z1)               [N, S]   (W1: [S, C, 1, 1])
//   z2 = h W2^T + b2,  gate = sigmoid(z2)        [N, C]   (W2: [C, S, 1, 1])
//                      (hard_gate: hardsigmoid(z2) = relu6(z2 + 3) / 6)
//   y = x * gate
//
// and the VJP, the product rule at y = x * gate, with gy the cotangent of y:
//
//   dgate = sum_{h,w} gy * x,   dz2 = dgate * gate * (1 - gate)
//                               (hard_gate: dgate / 6 where 0 < gate < 1)
//   dW2 = dz2^T h,  db2 = sum_n dz2,   dh = dz2 W2,   dz1 = act'(dh)
//   dW1 = dz1^T s,  db1 = sum_n dz1,   ds = dz1 W1
//   dx = gy * gate + ds / m (spread over H, W)
//
// The squeeze (the mean) and dgate are per-channel sums over H and W, in
// stages (StablehloBuilder::reduceSumStaged); the sums over the batch too.
//
//===----------------------------------------------------------------------===//

#include "Activation.h"

using namespace mlir;
using namespace lean_mlir;
using namespace lean_mlir::netspec;

namespace {
/// The forward pass up to the gate, in the compute layout.
struct Excitation {
  Value s, h, gate;       // [N, C], [N, S], [N, C]
  Value w1, w2;           // fc1 as [S, C], fc2 as [C, S]

  Excitation(LayerLowering &lowering, SqueezeExciteOp op, Value x,
             ValueRange operands) {
    StablehloBuilder &b = lowering.b;
    ArrayRef<int64_t> xs = b.shape(operands[0]); // NCHW
    int64_t n = xs[0], c = xs[1];
    int64_t sq = b.shape(operands[1])[0];
    s = lowering.spatialMean(x);
    w1 = b.reshape(operands[1], {sq, c});
    w2 = b.reshape(operands[3], {c, sq});
    Value z1 = b.add(b.dotGeneral(s, w1, {1}, {1}),
                     b.broadcastInDim(operands[2], {n, sq}, {1}));
    h = emitActivation(lowering, op, op.getActivation(), z1);
    Value z2 = b.add(b.dotGeneral(h, w2, {1}, {1}),
                     b.broadcastInDim(operands[4], {n, c}, {1}));
    gate = emitActivation(lowering, op, gateOf(op), z2);
  }
  static Activation gateOf(SqueezeExciteOp op) {
    return op.getHardGate() ? Activation::Hardsigmoid : Activation::Sigmoid;
  }
};
} // namespace

Value SqueezeExciteOp::emitForward(LayerLowering &lowering,
                                   ValueRange operands) {
  Value x = lowering.enter(operands[0]);
  Excitation e(lowering, *this, x, operands);
  return lowering.leave(
      lowering.b.mul(x, lowering.overSpace(e.gate, StablehloBuilder::shape(x))));
}

void SqueezeExciteOp::emitVJP(LayerLowering &lowering, ValueRange operands,
                              Value result, Value resultGrad,
                              bool needInputGrad,
                              SmallVectorImpl<Value> &operandGrads) {
  StablehloBuilder &b = lowering.b;
  operandGrads.assign(5, Value());
  Value x = lowering.enter(operands[0]);
  Value gy = lowering.enter(resultGrad);
  // The same ops as the forward pass's: the compiler's CSE shares them.
  Excitation e(lowering, *this, x, operands);

  ArrayRef<int64_t> xs = b.shape(x);
  Value dgate = b.reduceSumStaged(b.mul(gy, x), lowering.spatialDims());
  Value dz2 = emitActivationVJP(lowering, *this, Excitation::gateOf(*this),
                                e.gate, dgate);
  Value dh = b.dotGeneral(dz2, e.w2, {1}, {0});
  Value dz1 = emitActivationVJP(lowering, *this, getActivation(), e.h, dh);
  {
    auto part = lowering.part("weight gradient");
    operandGrads[1] = b.reshape(b.dotGeneral(dz1, e.s, {0}, {0}),
                                b.shape(operands[1]));
    operandGrads[3] = b.reshape(b.dotGeneral(dz2, e.h, {0}, {0}),
                                b.shape(operands[3]));
  }
  {
    auto part = lowering.part("bias gradient");
    operandGrads[2] = b.reduceSumStaged(dz1, {0});
    operandGrads[4] = b.reduceSumStaged(dz2, {0});
  }
  if (!needInputGrad)
    return;
  auto part = lowering.part("input gradient");
  Value direct = b.mul(gy, lowering.overSpace(e.gate, xs));
  Value viaMean =
      lowering.spatialMeanVJP(b.dotGeneral(dz1, e.w1, {1}, {0}), xs);
  Value dx = b.add(direct, viaMean);
  operandGrads[0] = lowering.leave(dx);
}
