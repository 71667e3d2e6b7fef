//===- Conv2d.cpp - conv2d: forward lowering and VJP ----------------------===//
//
// Part of lean-mlir.
//
// Layouts: input NCHW, weight OIHW, output NCHW. With padding (lo, hi) and
// stride s on each spatial axis:
//
//   y[n,o,r,c] = act(b[o] + sum_{i,u,v} xpad[n,i,r*s+u,c*s+v] * w[o,i,u,v])
//
//===----------------------------------------------------------------------===//

#include "Activation.h"

using namespace mlir;
using namespace lean_mlir;
using namespace lean_mlir::netspec;

namespace {
/// The forward convolution's padding as {lo0, hi0, lo1, hi1}.
SmallVector<int64_t, 4> forwardPadding(Conv2dOp op, ArrayRef<int64_t> x,
                                       ArrayRef<int64_t> w) {
  int64_t s = op.getStride();
  auto [lo0, hi0] = Conv2dOp::computePadding(op.getPadding(), x[2], w[2], s);
  auto [lo1, hi1] = Conv2dOp::computePadding(op.getPadding(), x[3], w[3], s);
  return {lo0, hi0, lo1, hi1};
}

/// Makes a strided window cover its input exactly: with `outSize` outputs
/// per axis, a window of `span` (the dilated kernel) and stride `stride`, the
/// last window ends at (out - 1) * stride + span. Trailing padding beyond that
/// is dropped, and trailing input rows no window reads are sliced off, so
/// `x`'s padded extent is exactly what the windows read and every padding
/// stays >= 0. (IREE's im2col rewrite of strided convolutions miscompiles
/// when rows are left over, and the weight gradient needs it anyway.)
Value coverExactly(StablehloBuilder &b, Value x, ArrayRef<int64_t> outSize,
                   ArrayRef<int64_t> span, int64_t stride,
                   SmallVectorImpl<int64_t> &pad) {
  ArrayRef<int64_t> xs = b.shape(x);
  SmallVector<int64_t, 4> limit(xs.begin(), xs.end());
  bool sliced = false;
  for (int a = 0; a < 2; ++a) {
    int64_t hi = (outSize[a] - 1) * stride + span[a] - xs[2 + a] - pad[2 * a];
    if (hi < 0) {
      limit[2 + a] += hi;
      hi = 0;
      sliced = true;
    }
    pad[2 * a + 1] = hi;
  }
  return sliced ? b.slice(x, {0, 0, 0, 0}, limit, {1, 1, 1, 1}) : x;
}

constexpr ConvDims kForward{"[b, f, 0, 1]", "[o, i, 0, 1]", "[b, f, 0, 1]"};
} // namespace

Value Conv2dOp::emitForward(StablehloBuilder &b, ValueRange operands) {
  Value x = operands[0], w = operands[1], bias = operands[2];
  ArrayRef<int64_t> ws = b.shape(w);
  ArrayRef<int64_t> outShape = getType().getShape();
  int64_t s = getStride();
  SmallVector<int64_t, 4> pad = forwardPadding(*this, b.shape(x), ws);
  x = coverExactly(b, x, outShape.drop_front(2), ws.drop_front(2), s, pad);
  Value y = b.convolution(x, w, kForward, {s, s}, pad, {1, 1}, {1, 1});
  y = b.add(y, b.broadcastInDim(bias, b.shape(y), {1}));
  return emitActivation(b, getActivation(), y);
}

void Conv2dOp::emitVJP(StablehloBuilder &b, ValueRange operands, Value result,
                       Value resultGrad, bool needInputGrad,
                       SmallVectorImpl<Value> &operandGrads) {
  operandGrads.assign(3, Value());
  Value x = operands[0], w = operands[1];
  ArrayRef<int64_t> xs = b.shape(x), ws = b.shape(w);
  int64_t s = getStride();
  SmallVector<int64_t, 4> pad = forwardPadding(*this, xs, ws);

  // Cotangent before the activation: g[n,o,r,c].
  Value g = emitActivationVJP(b, getActivation(), result, resultGrad);
  ArrayRef<int64_t> gs = b.shape(g);

  // Bias: the upstream gradient summed over batch and space.
  operandGrads[2] = b.reduceSum(g, {0, 2, 3});

  // Weight: dw[o,i,u,v] = sum_{n,r,c} xpad[n,i,r*s+u,c*s+v] * g[n,o,r,c],
  // a convolution of the saved input with the upstream gradient: the batch
  // is contracted (x's N plays the feature role, g's N the input-feature
  // role) and g is the kernel, dilated by the stride. Its output is
  // [o, i, kh, kw] exactly when the input is covered exactly by the windows.
  SmallVector<int64_t, 4> wpad(pad);
  SmallVector<int64_t, 2> kernel{ws[2], ws[3]};
  Value xin = coverExactly(b, x, {gs[2], gs[3]}, kernel, s, wpad);
  operandGrads[1] = b.convolution(
      xin, g, {"[f, b, 0, 1]", "[i, o, 0, 1]", "[f, b, 0, 1]"}, {1, 1}, wpad,
      {1, 1}, {s, s});

  // Input: dx = conv(g dilated by s, w reversed along both spatial axes with
  // its channel axes swapped). The swap is expressed in the dimension
  // numbers ([i, o, 0, 1] reads OIHW's O as the input feature), so no
  // transpose is materialised.
  if (needInputGrad) {
    SmallVector<int64_t, 4> tpad(4);
    for (int a = 0; a < 2; ++a) {
      int64_t k = ws[2 + a], lo = pad[2 * a];
      int64_t dilated = (gs[2 + a] - 1) * s + 1;
      tpad[2 * a] = k - 1 - lo;
      tpad[2 * a + 1] = xs[2 + a] + k - 1 - dilated - tpad[2 * a];
    }
    operandGrads[0] = b.convolution(
        g, b.reverse(w, {2, 3}), {"[b, f, 0, 1]", "[i, o, 0, 1]", "[b, f, 0, 1]"},
        {1, 1}, tpad, {s, s}, {1, 1});
  }
}
