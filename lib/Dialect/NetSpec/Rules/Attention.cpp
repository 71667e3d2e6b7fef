//===- Attention.cpp - the transformer's layers: forward lowering and VJP -===//
//
// Part of lean-mlir.
//
// A token sequence is [N, T, C], the channels last on every target (it has
// no spatial layout to choose). The rules here:
//
//   tokens              [N, C, H, W] -> [N, H * W, C]; VJP the inverse
//   class_token         [token; x] along T; VJP: x's part of g, and the sum
//                       over N of token 0's
//   position_embedding  x + e; VJP: g, and the sum over N of g
//   take_token          x[:, i]; VJP: g at token i, zeros elsewhere
//   attention           per sample and head, with q, k, v [T, D] read from
//                       the fused qkv and s = 1 / sqrt(D):
//                         S = (s q) k^T,  P = softmax(S),  O = P v
//                       and its VJP, from dO:
//                         dv = P^T dO,  dP = dO v^T,
//                         dS = P * (dP - rowsum(dP * P))   (softmax's rule)
//                         dq = s dS k,  dk = dS^T (s q)
//
// Every product is one dot_general batched over N and the heads. softmax
// subtracts each row's maximum before exp, so logits of any size (80 and
// more) give no overflow; its VJP needs only P. The VJP rebuilds q, k, v and
// P with the forward pass's ops, which the compiler's CSE shares.
//
//===----------------------------------------------------------------------===//

#include "Activation.h"

#include <cmath>

using namespace mlir;
using namespace lean_mlir;
using namespace lean_mlir::netspec;

//===----------------------------------------------------------------------===//
// tokens
//===----------------------------------------------------------------------===//

// NCHW -> NHWC -> [N, H * W, C]: on the channels-last targets the transpose
// undoes the previous layer's and folds away.
Value TokensOp::emitForward(LayerLowering &lowering, ValueRange operands) {
  StablehloBuilder &b = lowering.b;
  ArrayRef<int64_t> x = b.shape(operands[0]);
  return b.reshape(b.transpose(operands[0], kToNHWC),
                   {x[0], x[2] * x[3], x[1]});
}

void TokensOp::emitVJP(LayerLowering &lowering, ValueRange operands,
                       Value result, Value resultGrad, bool needInputGrad,
                       SmallVectorImpl<Value> &operandGrads) {
  StablehloBuilder &b = lowering.b;
  operandGrads.assign(1, Value());
  if (!needInputGrad)
    return;
  ArrayRef<int64_t> x = b.shape(operands[0]);
  operandGrads[0] = b.transpose(b.reshape(resultGrad, {x[0], x[2], x[3], x[1]}),
                                kToNCHW);
}

//===----------------------------------------------------------------------===//
// class_token
//===----------------------------------------------------------------------===//

Value ClassTokenOp::emitForward(LayerLowering &lowering, ValueRange operands) {
  StablehloBuilder &b = lowering.b;
  ArrayRef<int64_t> x = b.shape(operands[0]);
  Value token = b.broadcastInDim(operands[1], {x[0], 1, x[2]}, {0, 1, 2});
  return b.concatenate({token, operands[0]}, 1);
}

void ClassTokenOp::emitVJP(LayerLowering &lowering, ValueRange operands,
                           Value result, Value resultGrad, bool needInputGrad,
                           SmallVectorImpl<Value> &operandGrads) {
  StablehloBuilder &b = lowering.b;
  operandGrads.assign(2, Value());
  ArrayRef<int64_t> y = b.shape(resultGrad);
  {
    auto part = lowering.part("weight gradient");
    Value first = b.slice(resultGrad, {0, 0, 0}, {y[0], 1, y[2]}, {1, 1, 1});
    operandGrads[1] =
        b.reshape(b.reduceSumStaged(first, {0}), {1, 1, y[2]}); // [1, 1, C]
  }
  if (!needInputGrad)
    return;
  auto part = lowering.part("input gradient");
  operandGrads[0] = b.slice(resultGrad, {0, 1, 0}, y, {1, 1, 1});
}

//===----------------------------------------------------------------------===//
// position_embedding
//===----------------------------------------------------------------------===//

Value PositionEmbeddingOp::emitForward(LayerLowering &lowering,
                                       ValueRange operands) {
  StablehloBuilder &b = lowering.b;
  ArrayRef<int64_t> x = b.shape(operands[0]);
  Value e = b.reshape(operands[1], {x[1], x[2]});
  return b.add(operands[0], b.broadcastInDim(e, x, {1, 2}));
}

void PositionEmbeddingOp::emitVJP(LayerLowering &lowering, ValueRange operands,
                                  Value result, Value resultGrad,
                                  bool needInputGrad,
                                  SmallVectorImpl<Value> &operandGrads) {
  StablehloBuilder &b = lowering.b;
  operandGrads.assign(2, Value());
  {
    auto part = lowering.part("weight gradient");
    operandGrads[1] = b.reshape(b.reduceSumStaged(resultGrad, {0}),
                                b.shape(operands[1])); // [1, T, C]
  }
  if (needInputGrad)
    operandGrads[0] = resultGrad;
}

//===----------------------------------------------------------------------===//
// take_token
//===----------------------------------------------------------------------===//

Value TakeTokenOp::emitForward(LayerLowering &lowering, ValueRange operands) {
  StablehloBuilder &b = lowering.b;
  ArrayRef<int64_t> x = b.shape(operands[0]);
  int64_t i = getIndex();
  return b.reshape(b.slice(operands[0], {0, i, 0}, {x[0], i + 1, x[2]},
                           {1, 1, 1}),
                   {x[0], x[2]});
}

void TakeTokenOp::emitVJP(LayerLowering &lowering, ValueRange operands,
                          Value result, Value resultGrad, bool needInputGrad,
                          SmallVectorImpl<Value> &operandGrads) {
  StablehloBuilder &b = lowering.b;
  operandGrads.assign(1, Value());
  if (!needInputGrad)
    return;
  ArrayRef<int64_t> x = b.shape(operands[0]);
  int64_t i = getIndex();
  Value g = b.reshape(resultGrad, {x[0], 1, x[2]});
  operandGrads[0] = b.pad(g, b.splat(0.0f), {0, i, 0}, {0, x[1] - 1 - i, 0},
                          {0, 0, 0});
}

//===----------------------------------------------------------------------===//
// attention
//===----------------------------------------------------------------------===//

namespace {
/// softmax over the last axis of a rank-4 [N, H, T, T] tensor, each row's
/// maximum subtracted first.
Value softmax(StablehloBuilder &b, Value s) {
  ArrayRef<int64_t> shape = b.shape(s);
  Value m = b.broadcastInDim(b.reduceMax(s, {3}), shape, {0, 1, 2});
  Value e = b.exp(b.sub(s, m));
  return b.div(e, b.broadcastInDim(b.reduceSum(e, {3}), shape, {0, 1, 2}));
}

/// softmax's VJP from its output p and the output's cotangent dp:
/// p * (dp - rowsum(dp * p)).
Value softmaxVJP(StablehloBuilder &b, Value p, Value dp) {
  Value rowDot = b.reduceSum(b.mul(dp, p), {3});
  return b.mul(p, b.sub(dp, b.broadcastInDim(rowDot, b.shape(p), {0, 1, 2})));
}

/// The attention of one fused qkv [N, T, 3 C]: q (scaled), k, v as
/// [N, T, H, D] and P = softmax(q k^T) as [N, H, T, T].
struct Attention {
  StablehloBuilder &b;
  int64_t n, t, heads, d;
  Value q, k, v, p;

  Attention(StablehloBuilder &b, Value qkv, int64_t heads)
      : b(b), heads(heads) {
    ArrayRef<int64_t> shape = b.shape(qkv);
    n = shape[0];
    t = shape[1];
    d = shape[2] / (3 * heads);
    Value split = b.reshape(qkv, {n, t, 3, heads, d});
    auto third = [&](int64_t i) {
      return b.reshape(b.slice(split, {0, 0, i, 0, 0}, {n, t, i + 1, heads, d},
                               {1, 1, 1, 1, 1}),
                       {n, t, heads, d});
    };
    q = b.mul(third(0), b.splatLike(scale(), third(0)));
    k = third(1);
    v = third(2);
    // [N, H, Tq, Tk]: batched over N and the heads, contracting D.
    p = softmax(b, b.dotGeneral(q, k, {3}, {3}, {0, 2}, {0, 2}));
  }
  float scale() const { return 1.0f / std::sqrt(float(d)); }

  /// [N, H, T, D] -> [N, T, H * D] (the heads side by side).
  Value merge(Value heads4) {
    return b.reshape(b.transpose(heads4, {0, 2, 1, 3}), {n, t, heads * d});
  }
  /// [N, T, H * D] -> [N, H, T, D].
  Value split(Value g) {
    return b.transpose(b.reshape(g, {n, t, heads, d}), {0, 2, 1, 3});
  }
};
} // namespace

Value AttentionOp::emitForward(LayerLowering &lowering, ValueRange operands) {
  Attention a(lowering.b, operands[0], getHeads());
  // O = P v: [N, H, Tq, D], contracting the keys.
  return a.merge(lowering.b.dotGeneral(a.p, a.v, {3}, {1}, {0, 1}, {0, 2}));
}

void AttentionOp::emitVJP(LayerLowering &lowering, ValueRange operands,
                          Value result, Value resultGrad, bool needInputGrad,
                          SmallVectorImpl<Value> &operandGrads) {
  StablehloBuilder &b = lowering.b;
  operandGrads.assign(1, Value());
  if (!needInputGrad)
    return;
  auto part = lowering.part("input gradient");
  Attention a(b, operands[0], getHeads());
  Value dO = a.split(resultGrad);                             // [N, H, Tq, D]
  Value dv = b.dotGeneral(a.p, dO, {2}, {2}, {0, 1}, {0, 1}); // [N, H, Tk, D]
  Value dp = b.dotGeneral(dO, a.v, {3}, {3}, {0, 1}, {0, 2}); // [N, H, Tq, Tk]
  Value ds = softmaxVJP(b, a.p, dp);
  Value dq = b.dotGeneral(ds, a.k, {3}, {1}, {0, 1}, {0, 2}); // [N, H, Tq, D]
  dq = b.mul(dq, b.splatLike(a.scale(), dq));
  Value dk = b.dotGeneral(ds, a.q, {2}, {1}, {0, 1}, {0, 2}); // [N, H, Tk, D]
  // Back to the fused layout: [N, T, 3, H, D] -> [N, T, 3 C].
  SmallVector<Value, 3> parts;
  for (Value g : {dq, dk, dv})
    parts.push_back(b.reshape(b.transpose(g, {0, 2, 1, 3}),
                              {a.n, a.t, 1, a.heads, a.d}));
  operandGrads[0] = b.reshape(b.concatenate(parts, 2), b.shape(operands[0]));
}
