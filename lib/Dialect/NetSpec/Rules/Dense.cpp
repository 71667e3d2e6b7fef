//===- Dense.cpp - dense: forward lowering and VJP ------------------------===//
//
// Part of lean-mlir.
//
// y = act(x @ w + b) with x : [N, in] (or a token sequence [N, T, in]),
// w : [in, out], b : [out]. IREE's CPU
// backend runs these dot_generals as GEMMs. Where the target says so
// (TargetForms::denseChunk; gpu) a long input is contracted in chunks, a
// product batched over the chunks and then summed: IREE 3.13's CUDA backend
// does not split the reduction itself, and the book CNN's 6272 -> 512 layer
// took 1.87 ms as one product and 0.18 ms in 8 chunks (H100, batch 128).
// The bias gradient, a sum over the batch, is summed in stages.
//
//===----------------------------------------------------------------------===//

#include "Activation.h"

using namespace mlir;
using namespace lean_mlir;
using namespace lean_mlir::netspec;

namespace {
/// x @ w contracted in `chunks` pieces of the input dimension.
Value chunkedProduct(StablehloBuilder &b, Value x, Value w, int64_t chunks) {
  ArrayRef<int64_t> xs = b.shape(x), ws = b.shape(w);
  int64_t k = ws[0] / chunks;
  Value x3 = b.reshape(x, {xs[0], chunks, k});
  Value w3 = b.reshape(w, {chunks, k, ws[1]});
  // [chunks, N, out], summed over the chunks.
  return b.reduceSum(b.dotGeneral(x3, w3, {2}, {1}, {1}, {0}), {0});
}

/// How many chunks an input of `in` is contracted in, in pieces of at most
/// `chunk`: the fewest that divide it so; 1 (no split) when `chunk` is 0, the
/// input is at most `chunk` or no such pieces are at least 128 long.
int64_t chunksFor(int64_t in, int64_t chunk) {
  if (chunk == 0)
    return 1;
  for (int64_t c = 1; c <= in; ++c)
    if (in % c == 0 && in / c <= chunk)
      return in / c >= 128 ? c : 1;
  return 1;
}

/// A token sequence [N, T, F] as the rows of a matrix [N * T, F] (a free
/// reshape); a matrix as it is.
Value rows(StablehloBuilder &b, Value v) {
  ArrayRef<int64_t> shape = b.shape(v);
  return shape.size() == 3 ? b.reshape(v, {shape[0] * shape[1], shape[2]}) : v;
}

/// `matrix` [N * T, F] back in the shape of `like` ([N, T, *]).
Value likeInput(StablehloBuilder &b, Value matrix, Value like) {
  ArrayRef<int64_t> shape = b.shape(like);
  if (shape.size() != 3)
    return matrix;
  return b.reshape(matrix, {shape[0], shape[1], b.shape(matrix)[1]});
}
} // namespace

// A token sequence is one matrix of its N * T rows: the same GEMMs, and its
// bias gradient a sum over N * T, in stages.
Value DenseOp::emitForward(LayerLowering &lowering, ValueRange operands) {
  StablehloBuilder &b = lowering.b;
  Value x = rows(b, operands[0]);
  int64_t chunks =
      chunksFor(b.shape(operands[1])[0], lowering.forms.denseChunk);
  Value y = chunks > 1 ? chunkedProduct(b, x, operands[1], chunks)
                       : b.dotGeneral(x, operands[1], {1}, {0});
  if (operands.size() > 2) // the bias, when there is one
    y = b.add(y, b.broadcastInDim(operands[2], b.shape(y), {1}));
  return emitActivation(lowering, *this, getActivation(),
                        likeInput(b, y, operands[0]));
}

void DenseOp::emitVJP(LayerLowering &lowering, ValueRange operands,
                      Value result, Value resultGrad, bool needInputGrad,
                      SmallVectorImpl<Value> &operandGrads) {
  StablehloBuilder &b = lowering.b;
  operandGrads.assign(operands.size(), Value());
  Value g = rows(b, emitActivationVJP(lowering, *this, getActivation(), result,
                                      resultGrad));
  Value x = rows(b, operands[0]);
  if (operands.size() > 2) {
    auto part = lowering.part("bias gradient");
    operandGrads[2] = b.reduceSumStaged(g, {0}); // [out]
  }
  {
    auto part = lowering.part("weight gradient");
    operandGrads[1] = b.dotGeneral(x, g, {0}, {0}); // x^T g
  }
  auto part = lowering.part("input gradient");
  if (needInputGrad) // g w^T
    operandGrads[0] =
        likeInput(b, b.dotGeneral(g, operands[1], {1}, {1}), operands[0]);
}
