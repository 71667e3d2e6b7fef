//===- Pooling.cpp - max_pool2d, global_avg_pool: forward and VJP ---------===//
//
// Part of lean-mlir.
//
// max_pool2d. With padding p, the rule pools the input padded by p rows and
// columns of -inf (which never win: every window holds an input element)
// and the VJP drops the padding's cotangent. Forward: the max over each
// window (reduce_window). Backward:
// each window sends its whole gradient to exactly one input, the first
// element in row-major window order that equals the window's maximum,
// whatever the backend does on ties in select_and_scatter (IREE 3.13 routes
// tied windows to the last maximum, against StableHLO's semantics; see the
// README).
//
// avg_pool2d: the sum over each window of the input padded with zeros,
// divided by the window's size (the zeros count, as PyTorch's default). Its
// VJP: for every window offset, the cotangent / k^2 put back at the inputs
// that offset read (interior padding s - 1 undoes the stride), then the
// padding's cotangent dropped.
//
// global_avg_pool: the mean over H and W, its VJP the cotangent spread over
// the window (further down).
//
//===----------------------------------------------------------------------===//

#include "Activation.h"

#include <limits>

using namespace mlir;
using namespace lean_mlir;
using namespace lean_mlir::netspec;

namespace {
/// First-maximum routing with one mask per window offset, for any window and
/// stride (overlapping windows included). `x`, `y` (the pooled maxima) and
/// `g` (their cotangent) share one layout whose spatial dimensions are
/// `spatial`. For every window offset (u, v) the strided slice at (u, v)
/// holds that offset's element of every window; the offset wins a window if
/// it equals the max and no earlier offset did. Its gradient goes back to
/// the input positions with `pad` (interior padding s - 1 undoes the
/// stride), and contributions add.
Value routeByOffsetMasks(StablehloBuilder &b, Value x, Value y, Value g,
                         int64_t k, int64_t s, ArrayRef<int64_t> spatial) {
  ArrayRef<int64_t> xs = b.shape(x), ys = b.shape(y);
  int64_t hd = spatial[0], wd = spatial[1];
  Value zeroScalar = b.splat(0.0f);
  Value zeros = b.splatLike(0.0f, g);
  Value dx = b.splatLike(0.0f, x);
  Value taken;
  for (int64_t u = 0; u < k; ++u) {
    for (int64_t v = 0; v < k; ++v) {
      int64_t lastRow = u + (ys[hd] - 1) * s, lastCol = v + (ys[wd] - 1) * s;
      SmallVector<int64_t, 4> start(4, 0), limit(xs), strides(4, 1),
          low(4, 0), high(4, 0), interior(4, 0);
      start[hd] = u, start[wd] = v;
      limit[hd] = lastRow + 1, limit[wd] = lastCol + 1;
      strides[hd] = strides[wd] = s;
      low[hd] = u, low[wd] = v;
      high[hd] = xs[hd] - 1 - lastRow, high[wd] = xs[wd] - 1 - lastCol;
      interior[hd] = interior[wd] = s - 1;
      Value hit = b.compare(b.slice(x, start, limit, strides), y, Cmp::EQ);
      if (taken)
        hit = b.logicalAnd(hit, b.logicalNot(taken));
      bool last = u == k - 1 && v == k - 1;
      if (!last)
        taken = taken ? b.logicalOr(taken, hit) : hit;
      Value routed = b.select(hit, g, zeros);
      dx = b.add(dx, b.pad(routed, zeroScalar, low, high, interior));
    }
  }
  return dx;
}

/// First-maximum routing for non-overlapping windows (stride == window) in
/// NHWC: the input seen as [N, Ho, k, Wo, k, C] puts every window on two
/// axes, so the winner is one min-reduction of the window offsets
/// (u * k + v) that hold the maximum, and the gradient one select. Rows and
/// columns no window reads get zeros. About 5 ms faster than the per-offset
/// masks at the book's CNN shape (batch 128, 32 x 28 x 28, 2x2 windows).
Value routeByWindowView(StablehloBuilder &b, Value xh, Value yh, Value gh,
                        int64_t k) {
  ArrayRef<int64_t> xs = b.shape(xh), ys = b.shape(yh);
  int64_t n = xs[0], ho = ys[1], wo = ys[2], c = xs[3];
  Value covered = xh;
  if (ho * k != xs[1] || wo * k != xs[2])
    covered = b.slice(xh, {0, 0, 0, 0}, {n, ho * k, wo * k, c}, {1, 1, 1, 1});
  SmallVector<int64_t, 6> view{n, ho, k, wo, k, c};
  const int64_t windowDims[] = {0, 1, 3, 5};
  Value windows = b.reshape(covered, view);
  Value isMax = b.compare(windows, b.broadcastInDim(yh, view, windowDims),
                          Cmp::EQ);
  Value offset = b.add(b.mul(b.iota(view, 2, b.i32()), b.splatI32(k, view)),
                       b.iota(view, 4, b.i32()));
  Value first = b.reduceMinI32(
      b.select(isMax, offset, b.splatI32(k * k, view)), {2, 4});
  Value wins = b.compare(offset, b.broadcastInDim(first, view, windowDims),
                         Cmp::EQ);
  Value routed = b.select(wins, b.broadcastInDim(gh, view, windowDims),
                          b.splat(0.0f, view));
  Value dx = b.reshape(routed, {n, ho * k, wo * k, c});
  if (ho * k != xs[1] || wo * k != xs[2])
    dx = b.pad(dx, b.splat(0.0f), {0, 0, 0, 0},
               {0, xs[1] - ho * k, xs[2] - wo * k, 0}, {0, 0, 0, 0});
  return dx;
}
/// `x` padded by `p` rows and columns of `value` on its `spatial` dimensions.
Value padSpatial(StablehloBuilder &b, Value x, int64_t p, float value,
                 ArrayRef<int64_t> spatial) {
  if (p == 0)
    return x;
  SmallVector<int64_t, 4> edge(4, 0), interior(4, 0);
  edge[spatial[0]] = edge[spatial[1]] = p;
  return b.pad(x, b.splat(value), edge, edge, interior);
}

/// `x` padded by `p` rows and columns of -inf (which never win a max).
Value padWithLowest(StablehloBuilder &b, Value x, int64_t p,
                    ArrayRef<int64_t> spatial) {
  return padSpatial(b, x, p, -std::numeric_limits<float>::infinity(), spatial);
}

/// The cotangent of avg_pool2d's padded input: every window offset's share
/// g / k^2 put back where that offset read (see the file comment). `xs` is
/// the padded input's shape.
Value spreadOverWindows(StablehloBuilder &b, Value g, ArrayRef<int64_t> xs,
                        int64_t k, int64_t s, ArrayRef<int64_t> spatial) {
  ArrayRef<int64_t> ys = b.shape(g);
  int64_t hd = spatial[0], wd = spatial[1];
  Value share = b.mul(g, b.splatLike(1.0f / float(k * k), g));
  Value dx;
  for (int64_t u = 0; u < k; ++u) {
    for (int64_t v = 0; v < k; ++v) {
      int64_t lastRow = u + (ys[hd] - 1) * s, lastCol = v + (ys[wd] - 1) * s;
      SmallVector<int64_t, 4> low(4, 0), high(4, 0), interior(4, 0);
      low[hd] = u, low[wd] = v;
      high[hd] = xs[hd] - 1 - lastRow, high[wd] = xs[wd] - 1 - lastCol;
      interior[hd] = interior[wd] = s - 1;
      Value placed = b.pad(share, b.splat(0.0f), low, high, interior);
      dx = dx ? b.add(dx, placed) : placed;
    }
  }
  return dx;
}

/// The cotangent of the unpadded input from that of the padded one.
Value dropPadding(StablehloBuilder &b, Value dx, int64_t p,
                  ArrayRef<int64_t> spatial) {
  if (p == 0)
    return dx;
  ArrayRef<int64_t> ds = b.shape(dx);
  SmallVector<int64_t, 4> start(4, 0), limit(ds), strides(4, 1);
  for (int64_t d : spatial)
    start[d] = p, limit[d] = ds[d] - p;
  return b.slice(dx, start, limit, strides);
}
} // namespace

Value MaxPool2dOp::emitForward(LayerLowering &lowering, ValueRange operands) {
  StablehloBuilder &b = lowering.b;
  int64_t k = getWindow(), s = getStride(), p = getPadding();
  if (!lowering.isChannelsLast())
    return b.reduceWindowMax(padWithLowest(b, operands[0], p, {2, 3}),
                             {1, 1, k, k}, {1, 1, s, s});
  // Channels-last, like the convolutions around it.
  Value xh = padWithLowest(b, lowering.enter(operands[0]), p, {1, 2});
  if (k != s)
    return lowering.leave(b.reduceWindowMax(xh, {1, k, k, 1}, {1, s, s, 1}));
  // Non-overlapping windows: a plain max-reduction over the window axes of
  // the [N, Ho, k, Wo, k, C] view.
  ArrayRef<int64_t> xs = b.shape(xh);
  int64_t ho = (xs[1] - k) / k + 1, wo = (xs[2] - k) / k + 1;
  if (ho * k != xs[1] || wo * k != xs[2])
    xh = b.slice(xh, {0, 0, 0, 0}, {xs[0], ho * k, wo * k, xs[3]},
                 {1, 1, 1, 1});
  Value windows = b.reshape(xh, {xs[0], ho, k, wo, k, xs[3]});
  return lowering.leave(b.reduceMax(windows, {2, 4}));
}

void MaxPool2dOp::emitVJP(LayerLowering &lowering, ValueRange operands,
                          Value result, Value resultGrad, bool needInputGrad,
                          SmallVectorImpl<Value> &operandGrads) {
  StablehloBuilder &b = lowering.b;
  operandGrads.assign(1, Value());
  if (!needInputGrad)
    return;
  int64_t k = getWindow(), s = getStride(), p = getPadding();
  if (!lowering.isChannelsLast()) {
    Value x = padWithLowest(b, operands[0], p, {2, 3});
    operandGrads[0] = dropPadding(
        b, routeByOffsetMasks(b, x, result, resultGrad, k, s, {2, 3}), p,
        {2, 3});
    return;
  }
  Value xh = padWithLowest(b, lowering.enter(operands[0]), p, {1, 2});
  Value yh = lowering.enter(result);
  Value gh = lowering.enter(resultGrad);
  Value dx = k == s ? routeByWindowView(b, xh, yh, gh, k)
                    : routeByOffsetMasks(b, xh, yh, gh, k, s, {1, 2});
  operandGrads[0] = lowering.leave(dropPadding(b, dx, p, {1, 2}));
}

//===----------------------------------------------------------------------===//
// avg_pool2d
//===----------------------------------------------------------------------===//

// Channels-last on the cpu and gpu forms, like the convolutions around it:
// the spatial dimensions of the compute layout.
static SmallVector<int64_t, 2> poolSpatialDims(LayerLowering &lowering) {
  if (lowering.isChannelsLast())
    return {1, 2};
  return {2, 3};
}

Value AvgPool2dOp::emitForward(LayerLowering &lowering, ValueRange operands) {
  StablehloBuilder &b = lowering.b;
  int64_t k = getWindow(), s = getStride(), p = getPadding();
  SmallVector<int64_t, 2> spatial = poolSpatialDims(lowering);
  Value x = padSpatial(b, lowering.enter(operands[0]), p, 0.0f, spatial);
  SmallVector<int64_t, 4> window(4, 1), strides(4, 1);
  window[spatial[0]] = window[spatial[1]] = k;
  strides[spatial[0]] = strides[spatial[1]] = s;
  Value sum = b.reduceWindowSum(x, window, strides);
  return lowering.leave(b.mul(sum, b.splatLike(1.0f / float(k * k), sum)));
}

void AvgPool2dOp::emitVJP(LayerLowering &lowering, ValueRange operands,
                          Value result, Value resultGrad, bool needInputGrad,
                          SmallVectorImpl<Value> &operandGrads) {
  StablehloBuilder &b = lowering.b;
  operandGrads.assign(1, Value());
  if (!needInputGrad)
    return;
  int64_t k = getWindow(), s = getStride(), p = getPadding();
  SmallVector<int64_t, 2> spatial = poolSpatialDims(lowering);
  SmallVector<int64_t, 4> xs(
      lowering.computeShape(StablehloBuilder::shape(operands[0])));
  for (int64_t d : spatial)
    xs[d] += 2 * p;
  Value dx = spreadOverWindows(b, lowering.enter(resultGrad), xs, k, s, spatial);
  operandGrads[0] = lowering.leave(dropPadding(b, dx, p, spatial));
}

//===----------------------------------------------------------------------===//
// global_avg_pool
//===----------------------------------------------------------------------===//

// y[n, c] = sum_{h,w} x[n, c, h, w] / (H W); the VJP spreads g[n, c] / (H W)
// over the window. It works in the compute layout: on cpu and gpu it reads
// the input channels-last (the convolution before it wrote it so) and its
// VJP hands the next convolution's VJP an NHWC cotangent.

Value GlobalAvgPoolOp::emitForward(LayerLowering &lowering,
                                   ValueRange operands) {
  return lowering.spatialMean(lowering.enter(operands[0]));
}

void GlobalAvgPoolOp::emitVJP(LayerLowering &lowering, ValueRange operands,
                              Value result, Value resultGrad,
                              bool needInputGrad,
                              SmallVectorImpl<Value> &operandGrads) {
  operandGrads.assign(1, Value());
  if (!needInputGrad)
    return;
  // [N, C] spread over the compute layout's spatial dimensions.
  operandGrads[0] = lowering.leave(lowering.spatialMeanVJP(
      resultGrad, lowering.computeShape(StablehloBuilder::shape(operands[0]))));
}
