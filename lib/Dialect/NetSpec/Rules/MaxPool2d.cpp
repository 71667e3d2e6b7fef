//===- MaxPool2d.cpp - max_pool2d: forward lowering and VJP ---------------===//
//
// Part of lean-mlir.
//
//===----------------------------------------------------------------------===//

#include "Activation.h"

using namespace mlir;
using namespace lean_mlir;
using namespace lean_mlir::netspec;

Value MaxPool2dOp::emitForward(StablehloBuilder &b, ValueRange operands) {
  int64_t k = getWindow(), s = getStride();
  return b.reduceWindowMax(operands[0], {1, 1, k, k}, {1, 1, s, s});
}

// Each window sends its whole gradient to exactly one input: the first
// element, in row-major window order, that equals the window's maximum.
// For every window offset (u, v) the strided slice x[:, :, u::s, v::s] holds
// that offset's element of every window; an offset wins a window if it
// equals the max and no earlier offset did. Its gradient goes back to the
// input positions with `pad` (interior padding s - 1 undoes the stride), and
// contributions add, so overlapping windows (s < k) are handled too. This
// does not depend on how a backend breaks ties in select_and_scatter.
void MaxPool2dOp::emitVJP(StablehloBuilder &b, ValueRange operands,
                          Value result, Value resultGrad, bool needInputGrad,
                          SmallVectorImpl<Value> &operandGrads) {
  operandGrads.assign(1, Value());
  if (!needInputGrad)
    return;
  Value x = operands[0];
  ArrayRef<int64_t> xs = b.shape(x), ys = b.shape(result);
  int64_t k = getWindow(), s = getStride();
  Value zeroScalar = b.splat(0.0f);
  Value zeros = b.splatLike(0.0f, resultGrad);
  Value dx = b.splatLike(0.0f, x);
  Value taken;
  for (int64_t u = 0; u < k; ++u) {
    for (int64_t v = 0; v < k; ++v) {
      int64_t lastRow = u + (ys[2] - 1) * s, lastCol = v + (ys[3] - 1) * s;
      Value at = b.slice(x, {0, 0, u, v}, {xs[0], xs[1], lastRow + 1, lastCol + 1},
                         {1, 1, s, s});
      Value hit = b.compare(at, result, Cmp::EQ);
      if (taken)
        hit = b.logicalAnd(hit, b.logicalNot(taken));
      bool last = u == k - 1 && v == k - 1;
      if (!last)
        taken = taken ? b.logicalOr(taken, hit) : hit;
      Value routed = b.select(hit, resultGrad, zeros);
      dx = b.add(dx, b.pad(routed, zeroScalar, {0, 0, u, v},
                           {0, 0, xs[2] - 1 - lastRow, xs[3] - 1 - lastCol},
                           {0, 0, s - 1, s - 1}));
    }
  }
  operandGrads[0] = dx;
}
