//===- Conv2d.cpp - conv2d: forward lowering and VJP ----------------------===//
//
// Part of lean-mlir.
//
// Layouts at the rule's boundary: input NCHW, weight OIHW, output NCHW. With
// padding (lo, hi) and stride s on each spatial axis:
//
//   y[n,o,r,c] = act(b[o] + sum_{i,u,v} xpad[n,i,r*s+u,c*s+v] * w[o,i,u,v])
//
// Two sets of forms compute this and its VJP (LoweringTarget):
//
// * generic: the textbook forms, each a single NCHW convolution;
// * cpu: what IREE's llvm-cpu backend runs fast. Measured on the book's CNN
//   train step (batch 128, conv 32->32 at 28x28, 2-core AVX-512 machine,
//   IREE 3.13): forward 58 ms (NCHW + im2col) ->
//   9.8 ms (NHWC input, HWIO filter, plain convolution); weight gradient 70
//   -> 18-20 ms (one dot_general per kernel tap); input gradient 60 -> 10.4
//   ms (NHWC convolution with a filter reversed and transposed beforehand);
//   the one-input-channel first layer 9.3 -> 0.7 ms (one broadcast
//   multiply-add per tap). Every filter re-layout sits behind an
//   optimization barrier: IREE otherwise fuses the transpose into the
//   convolution, which then runs as a generic op on a slow path (476 ms
//   instead of 9.8). The two convolutions run at the machine's GEMM peak.
// * gpu: the cpu forms with the weight gradient's contraction over N*Ho*Wo
//   (100,352 rows at 28x28, batch 128) split: IREE 3.13's CUDA backend
//   gives a reduction with few outputs few threads. Measured alone on an
//   H100: a tap's product as one dot_general 6.5 ms, batched over N and
//   then summed over N 0.22 ms, and all nine taps as one product of each
//   sample's im2col rows 1.10 ms. The NHWC convolution itself ran 0.53 ms
//   against the generic NCHW one's 4.1.
//
// Grouped convolutions (groups G: group j's O/G filters read only its I/G
// input channels) keep these forms with the groups in them: the forward and
// input-gradient convolutions take G feature groups (the input gradient's
// filter regrouped by groupsToOutputs), the generic weight gradient G batch
// groups, and the cpu and gpu weight gradient one product per tap batched
// over the groups (groupedTapsWeightGradient; per-channel sums when
// depthwise). Their speed has not been measured.
//
// The bias gradient is a per-channel sum on every target
// (LayerLowering::channelSum: over W, then H, then N, so its float32 error
// grows with 28 + 28 + 128 terms, not 100,352; on the H100 two stages, H*W
// then N, took 0.07 ms against 0.70 for one reduction). The filter
// re-layouts go through LayerLowering::parameterRelayout.
//
//===----------------------------------------------------------------------===//

#include "Activation.h"

using namespace mlir;
using namespace lean_mlir;
using namespace lean_mlir::netspec;

namespace {
/// The forward convolution's padding as {lo0, hi0, lo1, hi1}; `x` and `w`
/// are NCHW and OIHW shapes.
SmallVector<int64_t, 4> forwardPadding(Conv2dOp op, ArrayRef<int64_t> x,
                                       ArrayRef<int64_t> w) {
  int64_t s = op.getStride();
  auto [lo0, hi0] =
      Conv2dOp::computePadding(op.getPadding(), op.getPads(), 0, x[2], w[2], s);
  auto [lo1, hi1] =
      Conv2dOp::computePadding(op.getPadding(), op.getPads(), 1, x[3], w[3], s);
  return {lo0, hi0, lo1, hi1};
}

/// Makes a strided window cover its input exactly: with `outSize` outputs
/// per axis, a window of `span` (the dilated kernel) and stride `stride`, the
/// last window ends at (out - 1) * stride + span. Trailing padding beyond that
/// is dropped, and trailing input rows no window reads are sliced off, so
/// `x`'s padded extent is exactly what the windows read and every padding
/// stays >= 0. `spatial` names x's two spatial dimensions. (IREE's im2col
/// rewrite of strided convolutions miscompiles when rows are left over, and
/// the generic weight gradient needs it anyway.)
Value coverExactly(StablehloBuilder &b, Value x, ArrayRef<int64_t> outSize,
                   ArrayRef<int64_t> span, int64_t stride,
                   SmallVectorImpl<int64_t> &pad,
                   ArrayRef<int64_t> spatial = {2, 3}) {
  ArrayRef<int64_t> xs = b.shape(x);
  SmallVector<int64_t, 4> limit(xs.begin(), xs.end());
  bool sliced = false;
  for (int a = 0; a < 2; ++a) {
    int64_t d = spatial[a];
    int64_t hi = (outSize[a] - 1) * stride + span[a] - xs[d] - pad[2 * a];
    if (hi < 0) {
      limit[d] += hi;
      hi = 0;
      sliced = true;
    }
    pad[2 * a + 1] = hi;
  }
  return sliced ? b.slice(x, {0, 0, 0, 0}, limit, {1, 1, 1, 1}) : x;
}

/// Padding of the input-gradient convolution: the upstream gradient `gs`
/// (spatial sizes), dilated by the stride, padded so that a kernel of `ws`
/// (OIHW) sweeps exactly the input's `xs` (NCHW) positions.
SmallVector<int64_t, 4> transposedPadding(ArrayRef<int64_t> xs,
                                          ArrayRef<int64_t> ws,
                                          ArrayRef<int64_t> gSpatial,
                                          ArrayRef<int64_t> pad, int64_t s) {
  SmallVector<int64_t, 4> tpad(4);
  for (int a = 0; a < 2; ++a) {
    int64_t k = ws[2 + a], lo = pad[2 * a];
    int64_t dilated = (gSpatial[a] - 1) * s + 1;
    tpad[2 * a] = k - 1 - lo;
    tpad[2 * a + 1] = xs[2 + a] + k - 1 - dilated - tpad[2 * a];
  }
  return tpad;
}

/// Tap (u, v) of every output window of the padded NHWC input `xpad`:
/// xpad[n, r*s + u, c*s + v, i] for each output (r, c), as [N, Ho, Wo, C].
Value tap(StablehloBuilder &b, Value xpad, int64_t u, int64_t v, int64_t s,
          ArrayRef<int64_t> outSpatial) {
  ArrayRef<int64_t> xs = b.shape(xpad);
  return b.slice(xpad, {0, u, v, 0},
                 {xs[0], u + (outSpatial[0] - 1) * s + 1,
                  v + (outSpatial[1] - 1) * s + 1, xs[3]},
                 {1, s, s, 1});
}

/// The NHWC input padded by `pad` ({lo0, hi0, lo1, hi1}) on its spatial axes.
Value padNHWC(StablehloBuilder &b, Value xh, ArrayRef<int64_t> pad) {
  if (llvm::all_of(pad, [](int64_t p) { return p == 0; }))
    return xh;
  return b.pad(xh, b.splat(0.0f), {0, pad[0], pad[2], 0},
               {0, pad[1], pad[3], 0}, {0, 0, 0, 0});
}

/// The filter of a grouped convolution's input gradient: from `w`
/// ([O, I/G, kh, kw], the forward's) to [O/G, I, kh, kw], so that the
/// transposed convolution with G feature groups reads group j's O/G upstream
/// channels and writes its I/G input channels. The identity for G = 1.
Value groupsToOutputs(StablehloBuilder &b, Value w, int64_t groups) {
  if (groups == 1)
    return w;
  ArrayRef<int64_t> ws = b.shape(w);
  int64_t og = ws[0] / groups;
  Value split = b.reshape(w, {groups, og, ws[1], ws[2], ws[3]});
  return b.reshape(b.transpose(split, {1, 0, 2, 3, 4}),
                   {og, groups * ws[1], ws[2], ws[3]});
}

constexpr ConvDims kForward{"[b, f, 0, 1]", "[o, i, 0, 1]", "[b, f, 0, 1]"};
constexpr ConvDims kChannelsLast{"[b, 0, 1, f]", "[0, 1, i, o]",
                                 "[b, 0, 1, f]"};

//===----------------------------------------------------------------------===//
// generic: one NCHW convolution per quantity
//===----------------------------------------------------------------------===//

/// The bias operand, or null for a convolution without one.
Value biasOf(ValueRange operands) {
  return operands.size() > 2 ? operands[2] : Value();
}

Value forwardGeneric(Conv2dOp op, LayerLowering &lowering,
                     ValueRange operands) {
  StablehloBuilder &b = lowering.b;
  Value x = operands[0], w = operands[1], bias = biasOf(operands);
  ArrayRef<int64_t> ws = b.shape(w);
  ArrayRef<int64_t> outShape = op.getType().getShape();
  int64_t s = op.getStride();
  SmallVector<int64_t, 4> pad = forwardPadding(op, b.shape(x), ws);
  x = coverExactly(b, x, outShape.drop_front(2), ws.drop_front(2), s, pad);
  Value y = b.convolution(x, w, kForward, {s, s}, pad, {1, 1}, {1, 1},
                          op.getGroups());
  if (bias)
    y = b.add(y, b.broadcastInDim(bias, b.shape(y), {1}));
  return emitActivation(lowering, op, op.getActivation(), y);
}

void vjpGeneric(Conv2dOp op, LayerLowering &lowering, ValueRange operands,
                Value result, Value resultGrad, bool needInputGrad,
                SmallVectorImpl<Value> &operandGrads) {
  StablehloBuilder &b = lowering.b;
  Value x = operands[0], w = operands[1];
  ArrayRef<int64_t> xs = b.shape(x), ws = b.shape(w);
  int64_t s = op.getStride(), groups = op.getGroups();
  SmallVector<int64_t, 4> pad = forwardPadding(op, xs, ws);

  // Cotangent before the activation: g[n,o,r,c].
  Value g = emitActivationVJP(lowering, op, op.getActivation(), result,
                              resultGrad);
  ArrayRef<int64_t> gs = b.shape(g);

  // Bias: the upstream gradient summed over batch and space.
  if (biasOf(operands)) {
    auto part = lowering.part("bias gradient");
    operandGrads[2] = lowering.channelSum(g);
  }

  // Weight: dw[o,i,u,v] = sum_{n,r,c} xpad[n,i,r*s+u,c*s+v] * g[n,o,r,c],
  // a convolution of the saved input with the upstream gradient: the batch
  // is contracted (x's N plays the feature role, g's N the input-feature
  // role) and g is the kernel, dilated by the stride. Its output is
  // [o, i, kh, kw] exactly when the input is covered exactly by the windows.
  // With groups, the batch groups split x's channels (here its batch) and
  // the output channels alike, so group j's filters see only its inputs.
  SmallVector<int64_t, 4> wpad(pad);
  SmallVector<int64_t, 2> kernel{ws[2], ws[3]};
  {
    auto part = lowering.part("weight gradient");
    Value xin = coverExactly(b, x, {gs[2], gs[3]}, kernel, s, wpad);
    operandGrads[1] = b.convolution(
        xin, g, {"[f, b, 0, 1]", "[i, o, 0, 1]", "[f, b, 0, 1]"}, {1, 1},
        wpad, {1, 1}, {s, s}, /*featureGroups=*/1, /*batchGroups=*/groups);
  }

  // Input: dx = conv(g dilated by s, w reversed along both spatial axes with
  // its channel axes swapped). The swap is expressed in the dimension
  // numbers ([i, o, 0, 1] reads OIHW's O as the input feature), so no
  // transpose is materialised (with groups, groupsToOutputs regroups it).
  auto part = lowering.part("input gradient");
  if (needInputGrad)
    operandGrads[0] = b.convolution(
        g, lowering.parameterRelayout(w, [&](Value p) {
          return groupsToOutputs(b, b.reverse(p, {2, 3}), groups);
        }),
        {"[b, f, 0, 1]", "[i, o, 0, 1]", "[b, f, 0, 1]"}, {1, 1},
        transposedPadding(xs, ws, {gs[2], gs[3]}, pad, s), {s, s}, {1, 1},
        groups);
}

//===----------------------------------------------------------------------===//
// cpu, gpu: channels-last, taps for the weight gradient, barriers on filters
//===----------------------------------------------------------------------===//

Value forwardChannelsLast(Conv2dOp op, LayerLowering &lowering,
                          ValueRange operands) {
  StablehloBuilder &b = lowering.b;
  Value x = operands[0], w = operands[1], bias = biasOf(operands);
  ArrayRef<int64_t> xs = b.shape(x), ws = b.shape(w);
  int64_t s = op.getStride();
  SmallVector<int64_t, 4> pad = forwardPadding(op, xs, ws);
  ArrayRef<int64_t> outNCHW = op.getType().getShape();
  SmallVector<int64_t, 2> outSpatial{outNCHW[2], outNCHW[3]};
  // Folds into the previous layer's NHWC result when it had one.
  Value xh = b.transpose(x, kToNHWC);
  SmallVector<int64_t, 4> outShape{xs[0], outSpatial[0], outSpatial[1], ws[0]};
  Value y;
  if (xs[1] == 1) {
    // One input channel: a convolution this thin runs far below the GEMM
    // peak (9.3 ms at 1->32, 28x28, batch 128); kh*kw broadcast
    // multiply-adds fuse into one pass over the output (0.7 ms). The
    // filter, as [kh * kw, O] rows, is laid out once.
    Value xpad = padNHWC(b, xh, pad);
    Value rows = lowering.parameterRelayout(w, [&](Value p) {
      return b.transpose(b.reshape(p, {ws[0], ws[2] * ws[3]}), {1, 0});
    });
    SmallVector<int64_t, 3> tapShape{xs[0], outSpatial[0], outSpatial[1]};
    for (int64_t u = 0; u < ws[2]; ++u) {
      for (int64_t v = 0; v < ws[3]; ++v) {
        Value xt = b.reshape(tap(b, xpad, u, v, s, outSpatial), tapShape);
        xt = b.broadcastInDim(xt, outShape, {0, 1, 2});
        int64_t t = u * ws[3] + v;
        Value wt = b.slice(rows, {t, 0}, {t + 1, ws[0]}, {1, 1});
        wt = b.broadcastInDim(b.reshape(wt, {ws[0]}), outShape, {3});
        Value term = b.mul(xt, wt);
        y = y ? b.add(y, term) : term;
      }
    }
  } else {
    // OIHW -> HWIO, materialised on its own.
    Value filter = lowering.parameterRelayout(
        w, [&](Value p) { return b.transpose(p, {2, 3, 1, 0}); });
    xh = coverExactly(b, xh, outSpatial, ws.drop_front(2), s, pad, {1, 2});
    y = b.convolution(xh, filter, kChannelsLast, {s, s}, pad, {1, 1}, {1, 1},
                      op.getGroups());
  }
  if (bias)
    y = b.add(y, b.broadcastInDim(bias, outShape, {3}));
  y = emitActivation(lowering, op, op.getActivation(), y);
  return b.transpose(y, kToNCHW);
}

/// The weight gradient of a grouped convolution from its taps ([N, Ho, Wo,
/// C] each, in row-major kernel order) and the upstream gradient `g` ([N,
/// Ho, Wo, O]), as OIHW `ws`: per tap, group j's inputs contracted with its
/// outputs over N*Ho*Wo, one product batched over the groups. A depthwise
/// tap (one input and one output per group) is a per-channel sum of
/// tap * g instead, in stages (LayerLowering::channelSum). The gpu forms
/// take this form too: their im2col product is written for one group.
Value groupedTapsWeightGradient(LayerLowering &lowering,
                                ArrayRef<Value> taps, Value g,
                                ArrayRef<int64_t> ws, int64_t groups) {
  StablehloBuilder &b = lowering.b;
  ArrayRef<int64_t> gs = b.shape(g);
  int64_t ig = ws[1], og = ws[0] / groups;
  bool depthwise = ig == 1 && og == 1;
  Value gGrouped =
      depthwise ? g : b.reshape(g, {gs[0], gs[1], gs[2], groups, og});
  SmallVector<Value> perTap;
  for (Value t : taps) {
    Value d;
    if (depthwise) {
      d = lowering.channelSum(b.mul(t, g));
    } else {
      Value tGrouped = b.reshape(t, {gs[0], gs[1], gs[2], groups, ig});
      d = b.dotGeneral(tGrouped, gGrouped, {0, 1, 2}, {0, 1, 2}, {3}, {3});
    }
    perTap.push_back(b.reshape(d, {groups, ig, og, 1})); // [G, I/G, O/G, 1]
  }
  Value dw = perTap.size() == 1 ? perTap.front() : b.concatenate(perTap, 3);
  // [G, I/G, O/G, kh*kw] -> [G, O/G, I/G, kh*kw] -> OIHW.
  return b.reshape(b.transpose(dw, {0, 2, 1, 3}), ws);
}

void vjpChannelsLast(Conv2dOp op, LayerLowering &lowering, ValueRange operands,
                     Value result, Value resultGrad, bool needInputGrad,
                     SmallVectorImpl<Value> &operandGrads) {
  StablehloBuilder &b = lowering.b;
  Value x = operands[0], w = operands[1];
  ArrayRef<int64_t> xs = b.shape(x), ws = b.shape(w);
  int64_t s = op.getStride(), groups = op.getGroups();
  SmallVector<int64_t, 4> pad = forwardPadding(op, xs, ws);

  // Everything in NHWC; these transposes fold into the forward result and
  // the next layer's input gradient.
  Value out = b.transpose(result, kToNHWC);
  Value g = emitActivationVJP(lowering, op, op.getActivation(), out,
                              b.transpose(resultGrad, kToNHWC));
  ArrayRef<int64_t> gs = b.shape(g);
  SmallVector<int64_t, 2> outSpatial{gs[1], gs[2]};

  // Bias: a sum over N, H, W.
  if (biasOf(operands)) {
    auto part = lowering.part("bias gradient");
    operandGrads[2] = lowering.channelSum(g);
  }

  // Weight (cpu), one tap at a time: dw[:, :, u, v] =
  // (xpad_tap(u, v)^T . g)^T, a product contracting N*Ho*Wo. As GEMMs these
  // run at the machine's matmul speed; as one convolution (the generic
  // form) IREE 3.13 runs the weight gradient 3.5x slower with im2col and
  // 20-35x without. The tap is the left operand: IREE then packs each
  // strided tap in one transposing copy and reads g's packing once for all
  // taps. With g on the left, each tap took a strided copy and then a
  // packing, and g a transpose (book CNN: 84 -> 76 ms a step). Nine taps
  // still mean nine passes over the input (about 1 ms each at 12.8 MB); one
  // im2col matrix for all of them measured slower (its packing is a second
  // pass over 9x the input).
  std::optional<LayerLowering::Part> weightPart;
  weightPart.emplace(b, lowering.partLoc("weight gradient"));
  Value xpad = padNHWC(b, b.transpose(x, kToNHWC), pad);
  SmallVector<Value> taps;
  for (int64_t u = 0; u < ws[2]; ++u)
    for (int64_t v = 0; v < ws[3]; ++v)
      taps.push_back(tap(b, xpad, u, v, s, outSpatial));
  if (groups > 1) {
    operandGrads[1] = groupedTapsWeightGradient(lowering, taps, g, ws, groups);
  } else if (lowering.forms.convWeightGradient ==
             TargetForms::WeightGradient::BatchedIm2col) {
    // gpu: the taps side by side along the channels, [N, Ho, Wo, kh*kw*C]
    // (each sample's im2col rows), one product batched over N, then summed
    // over N. On an H100 the 32->32 layer's weight gradient took 1.10 ms
    // this way, 2.23 ms as nine tap products batched over N and 58 ms as
    // nine unbatched ones (the cpu form).
    Value cols = taps.size() == 1 ? taps.front() : b.concatenate(taps, 3);
    Value dw = b.reduceSumStaged(
        b.dotGeneral(cols, g, {1, 2}, {1, 2}, {0}, {0}), {0});
    // [kh*kw*C, O] -> [kh, kw, C, O] -> OIHW.
    dw = b.reshape(dw, {ws[2], ws[3], ws[1], ws[0]});
    operandGrads[1] = b.transpose(dw, {3, 2, 0, 1});
  } else {
    // [C, O, kh * kw] -> OIHW.
    for (Value &t : taps)
      t = b.reshape(b.dotGeneral(t, g, {0, 1, 2}, {0, 1, 2}),
                    {ws[1], ws[0], 1});
    Value dw = taps.size() == 1 ? taps.front() : b.concatenate(taps, 2);
    dw = b.reshape(dw, {ws[1], ws[0], ws[2], ws[3]});
    operandGrads[1] = ws[1] == 1 ? b.reshape(dw, ws)
                                 : b.transpose(dw, {1, 0, 2, 3});
  }

  weightPart.reset();

  // Input: the generic form's convolution, channels-last, with the filter
  // reversed and laid out HWIO ([kh, kw, O, C]: the forward's output
  // channels are this convolution's input features).
  auto inputPart = lowering.part("input gradient");
  if (needInputGrad) {
    Value filter = lowering.parameterRelayout(w, [&](Value p) {
      return b.transpose(groupsToOutputs(b, b.reverse(p, {2, 3}), groups),
                         {2, 3, 0, 1});
    });
    Value dx = b.convolution(g, filter, kChannelsLast, {1, 1},
                             transposedPadding(xs, ws, outSpatial, pad, s),
                             {s, s}, {1, 1}, groups);
    operandGrads[0] = b.transpose(dx, kToNCHW);
  }
}
} // namespace

Value Conv2dOp::emitForward(LayerLowering &lowering, ValueRange operands) {
  if (lowering.isChannelsLast())
    return forwardChannelsLast(*this, lowering, operands);
  return forwardGeneric(*this, lowering, operands);
}

void Conv2dOp::emitVJP(LayerLowering &lowering, ValueRange operands,
                       Value result, Value resultGrad, bool needInputGrad,
                       SmallVectorImpl<Value> &operandGrads) {
  operandGrads.assign(operands.size(), Value());
  if (lowering.isChannelsLast())
    return vjpChannelsLast(*this, lowering, operands, result, resultGrad,
                           needInputGrad, operandGrads);
  vjpGeneric(*this, lowering, operands, result, resultGrad, needInputGrad,
             operandGrads);
}
