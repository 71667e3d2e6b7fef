//===- Builder.cpp - typed builder for generic-form StableHLO -------------===//
//
// Part of lean-mlir.
//
//===----------------------------------------------------------------------===//

#include "lean_mlir/StableHLO/Builder.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Operation.h"
#include "llvm/ADT/APFloat.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/ErrorHandling.h"

#include <limits>
#include <string>

using namespace mlir;
using namespace lean_mlir;

namespace {
std::string joinInts(ArrayRef<int64_t> values) {
  return llvm::join(llvm::map_range(values,
                                    [](int64_t v) { return std::to_string(v); }),
                    ", ");
}

const char *cmpName(Cmp direction) {
  switch (direction) {
  case Cmp::EQ:
    return "EQ";
  case Cmp::NE:
    return "NE";
  case Cmp::GE:
    return "GE";
  case Cmp::GT:
    return "GT";
  case Cmp::LE:
    return "LE";
  case Cmp::LT:
    return "LT";
  }
  llvm_unreachable("unknown comparison");
}
} // namespace

//===----------------------------------------------------------------------===//
// Basics
//===----------------------------------------------------------------------===//

Type StablehloBuilder::f32() { return b.getF32Type(); }
Type StablehloBuilder::i32() { return b.getI32Type(); }

ArrayRef<int64_t> StablehloBuilder::shape(Value v) {
  return cast<RankedTensorType>(v.getType()).getShape();
}

RankedTensorType StablehloBuilder::tensor(ArrayRef<int64_t> shape,
                                          Type elementType) {
  return RankedTensorType::get(shape, elementType);
}

Attribute StablehloBuilder::opaque(StringRef body) {
  // Printed as `#stablehlo.body` (or `#stablehlo<body>`), which StableHLO's
  // own parser reads as the real attribute.
  return OpaqueAttr::get(b.getStringAttr("stablehlo"), body, b.getNoneType());
}

Value StablehloBuilder::create(StringRef name, ValueRange operands,
                               Type result, ArrayRef<NamedAttribute> attrs) {
  // A name with a dialect prefix (chlo.erf) is taken as it is.
  OperationState state(loc, name.contains('.') ? name.str()
                                               : ("stablehlo." + name).str());
  state.addOperands(operands);
  state.addTypes(result);
  state.addAttributes(attrs);
  return b.create(state)->getResult(0);
}

Value StablehloBuilder::unary(StringRef name, Value a) {
  return create(name, a, a.getType());
}

Value StablehloBuilder::binary(StringRef name, Value a, Value c) {
  assert(a.getType() == c.getType() && "elementwise operands must match");
  return create(name, {a, c}, a.getType());
}

//===----------------------------------------------------------------------===//
// Constants and elementwise ops
//===----------------------------------------------------------------------===//

Value StablehloBuilder::splat(float value, ArrayRef<int64_t> shape) {
  RankedTensorType type = tensor(shape, f32());
  Attribute attr = DenseElementsAttr::get(type, b.getF32FloatAttr(value));
  return create("constant", {}, type, {b.getNamedAttr("value", attr)});
}

Value StablehloBuilder::splatI32(int32_t value, ArrayRef<int64_t> shape) {
  RankedTensorType type = tensor(shape, i32());
  Attribute attr = DenseElementsAttr::get(type, b.getI32IntegerAttr(value));
  return create("constant", {}, type, {b.getNamedAttr("value", attr)});
}

Value StablehloBuilder::splatLike(float value, Value like) {
  return splat(value, shape(like));
}

Value StablehloBuilder::add(Value a, Value c) { return binary("add", a, c); }
Value StablehloBuilder::sub(Value a, Value c) {
  return binary("subtract", a, c);
}
Value StablehloBuilder::mul(Value a, Value c) {
  return binary("multiply", a, c);
}
Value StablehloBuilder::div(Value a, Value c) { return binary("divide", a, c); }
Value StablehloBuilder::max(Value a, Value c) {
  return binary("maximum", a, c);
}
Value StablehloBuilder::min(Value a, Value c) {
  return binary("minimum", a, c);
}
Value StablehloBuilder::pow(Value a, Value c) { return binary("power", a, c); }
Value StablehloBuilder::neg(Value a) { return unary("negate", a); }
Value StablehloBuilder::exp(Value a) { return unary("exponential", a); }
Value StablehloBuilder::log(Value a) { return unary("log", a); }
Value StablehloBuilder::sqrt(Value a) { return unary("sqrt", a); }
Value StablehloBuilder::logistic(Value a) { return unary("logistic", a); }
Value StablehloBuilder::tanh(Value a) { return unary("tanh", a); }
Value StablehloBuilder::erf(Value a) { return unary("chlo.erf", a); }
Value StablehloBuilder::logicalAnd(Value a, Value c) {
  return binary("and", a, c);
}
Value StablehloBuilder::logicalOr(Value a, Value c) {
  return binary("or", a, c);
}
Value StablehloBuilder::logicalNot(Value a) { return unary("not", a); }

Value StablehloBuilder::compare(Value a, Value c, Cmp direction) {
  assert(a.getType() == c.getType() && "compared operands must match");
  std::string dir = std::string("comparison_direction ") + cmpName(direction);
  return create("compare", {a, c}, tensor(shape(a), b.getI1Type()),
                {b.getNamedAttr("comparison_direction", opaque(dir))});
}

Value StablehloBuilder::select(Value pred, Value onTrue, Value onFalse) {
  return create("select", {pred, onTrue, onFalse}, onTrue.getType());
}

Value StablehloBuilder::convert(Value a, Type elementType) {
  return create("convert", a, tensor(shape(a), elementType));
}

//===----------------------------------------------------------------------===//
// Shape ops
//===----------------------------------------------------------------------===//

Value StablehloBuilder::broadcastInDim(Value a, ArrayRef<int64_t> shape,
                                       ArrayRef<int64_t> dims) {
  auto type = cast<RankedTensorType>(a.getType());
  return create("broadcast_in_dim", a, tensor(shape, type.getElementType()),
                {b.getNamedAttr("broadcast_dimensions",
                                b.getDenseI64ArrayAttr(dims))});
}

Value StablehloBuilder::reshape(Value a, ArrayRef<int64_t> shape) {
  auto type = cast<RankedTensorType>(a.getType());
  return create("reshape", a, tensor(shape, type.getElementType()));
}

Value StablehloBuilder::reverse(Value a, ArrayRef<int64_t> dims) {
  return create("reverse", a, a.getType(),
                {b.getNamedAttr("dimensions", b.getDenseI64ArrayAttr(dims))});
}

Value StablehloBuilder::transpose(Value a, ArrayRef<int64_t> permutation) {
  // transpose(transpose(x, p), q) is x when q undoes p.
  if (Operation *def = a.getDefiningOp();
      def && def->getName().getStringRef() == "stablehlo.transpose") {
    auto inner = cast<DenseI64ArrayAttr>(def->getAttr("permutation"));
    bool identity = inner.size() == (int64_t)permutation.size();
    for (auto [i, p] : llvm::enumerate(permutation))
      identity = identity && inner[p] == (int64_t)i;
    if (identity)
      return def->getOperand(0);
  }
  ArrayRef<int64_t> in = shape(a);
  SmallVector<int64_t> out;
  for (int64_t p : permutation)
    out.push_back(in[p]);
  auto type = cast<RankedTensorType>(a.getType());
  return create("transpose", a, tensor(out, type.getElementType()),
                {b.getNamedAttr("permutation",
                                b.getDenseI64ArrayAttr(permutation))});
}

Value StablehloBuilder::concatenate(ValueRange values, int64_t dim) {
  auto type = cast<RankedTensorType>(values.front().getType());
  SmallVector<int64_t> out(type.getShape());
  out[dim] = 0;
  for (Value v : values)
    out[dim] += shape(v)[dim];
  return create("concatenate", values, tensor(out, type.getElementType()),
                {b.getNamedAttr("dimension", b.getI64IntegerAttr(dim))});
}

Value StablehloBuilder::slice(Value a, ArrayRef<int64_t> start,
                              ArrayRef<int64_t> limit,
                              ArrayRef<int64_t> strides) {
  SmallVector<int64_t> out;
  for (auto [s, l, st] : llvm::zip_equal(start, limit, strides))
    out.push_back((l - s + st - 1) / st);
  auto type = cast<RankedTensorType>(a.getType());
  return create("slice", a, tensor(out, type.getElementType()),
                {b.getNamedAttr("start_indices", b.getDenseI64ArrayAttr(start)),
                 b.getNamedAttr("limit_indices", b.getDenseI64ArrayAttr(limit)),
                 b.getNamedAttr("strides", b.getDenseI64ArrayAttr(strides))});
}

Value StablehloBuilder::pad(Value a, Value padValue, ArrayRef<int64_t> low,
                            ArrayRef<int64_t> high,
                            ArrayRef<int64_t> interior) {
  SmallVector<int64_t> out;
  for (auto [d, lo, hi, in] : llvm::zip_equal(shape(a), low, high, interior))
    out.push_back(lo + hi + d + (d - 1) * in);
  auto type = cast<RankedTensorType>(a.getType());
  return create(
      "pad", {a, padValue}, tensor(out, type.getElementType()),
      {b.getNamedAttr("edge_padding_low", b.getDenseI64ArrayAttr(low)),
       b.getNamedAttr("edge_padding_high", b.getDenseI64ArrayAttr(high)),
       b.getNamedAttr("interior_padding", b.getDenseI64ArrayAttr(interior))});
}

Value StablehloBuilder::iota(ArrayRef<int64_t> shape, int64_t dim,
                             Type elementType) {
  return create("iota", {}, tensor(shape, elementType),
                {b.getNamedAttr("iota_dimension", b.getI64IntegerAttr(dim))});
}

Value StablehloBuilder::optimizationBarrier(Value a) {
  return create("optimization_barrier", a, a.getType());
}

SmallVector<Value> StablehloBuilder::optimizationBarrier(ValueRange values) {
  OperationState state(loc, "stablehlo.optimization_barrier");
  state.addOperands(values);
  state.addTypes(values.getTypes());
  return SmallVector<Value>(b.create(state)->getResults());
}

//===----------------------------------------------------------------------===//
// Contractions
//===----------------------------------------------------------------------===//

Value StablehloBuilder::dotGeneral(Value lhs, Value rhs,
                                   ArrayRef<int64_t> lhsContracting,
                                   ArrayRef<int64_t> rhsContracting,
                                   ArrayRef<int64_t> lhsBatching,
                                   ArrayRef<int64_t> rhsBatching) {
  // result = batch dims ++ lhs free dims ++ rhs free dims.
  SmallVector<int64_t> out;
  for (int64_t d : lhsBatching)
    out.push_back(shape(lhs)[d]);
  for (auto [i, d] : llvm::enumerate(shape(lhs)))
    if (!llvm::is_contained(lhsContracting, (int64_t)i) &&
        !llvm::is_contained(lhsBatching, (int64_t)i))
      out.push_back(d);
  for (auto [i, d] : llvm::enumerate(shape(rhs)))
    if (!llvm::is_contained(rhsContracting, (int64_t)i) &&
        !llvm::is_contained(rhsBatching, (int64_t)i))
      out.push_back(d);
  std::string dims = "dot<";
  if (!lhsBatching.empty())
    dims += "lhs_batching_dimensions = [" + joinInts(lhsBatching) +
            "], rhs_batching_dimensions = [" + joinInts(rhsBatching) + "], ";
  dims += "lhs_contracting_dimensions = [" + joinInts(lhsContracting) +
          "], rhs_contracting_dimensions = [" + joinInts(rhsContracting) +
          "]>";
  return create("dot_general", {lhs, rhs}, tensor(out, f32()),
                {b.getNamedAttr("dot_dimension_numbers", opaque(dims))});
}

Value StablehloBuilder::convolution(Value lhs, Value rhs, ConvDims dims,
                                    ArrayRef<int64_t> strides,
                                    ArrayRef<int64_t> padding,
                                    ArrayRef<int64_t> lhsDilation,
                                    ArrayRef<int64_t> rhsDilation,
                                    int64_t featureGroups,
                                    int64_t batchGroups) {
  // Each dims string lists, per tensor dimension, its role: batch/feature
  // (b, f), output/input feature (o, i) or spatial index (0, 1).
  auto roles = [](StringRef spec) {
    SmallVector<char, 4> out;
    for (char c : spec)
      if (c != '[' && c != ']' && c != ',' && c != ' ')
        out.push_back(c);
    assert(out.size() == 4 && "2-D convolutions only");
    return out;
  };
  SmallVector<char, 4> lhsRoles = roles(dims.lhs), rhsRoles = roles(dims.rhs),
                       outRoles = roles(dims.out);
  auto find = [](ArrayRef<char> r, char role) {
    return llvm::find(r, role) - r.begin();
  };
  ArrayRef<int64_t> ls = shape(lhs), rs = shape(rhs);
  SmallVector<int64_t, 4> out(4);
  out[find(outRoles, 'b')] = ls[find(lhsRoles, 'b')] / batchGroups;
  out[find(outRoles, 'f')] = rs[find(rhsRoles, 'o')];
  for (int s = 0; s < 2; ++s) {
    char role = '0' + s;
    int64_t in = (ls[find(lhsRoles, role)] - 1) * lhsDilation[s] + 1;
    int64_t k = (rs[find(rhsRoles, role)] - 1) * rhsDilation[s] + 1;
    int64_t padded = in + padding[2 * s] + padding[2 * s + 1];
    out[find(outRoles, role)] = (padded - k) / strides[s] + 1;
  }
  std::string dimsText = ("conv<" + dims.lhs + "x" + dims.rhs + "->" +
                          dims.out + ">")
                             .str();
  auto padType = RankedTensorType::get({2, 2}, b.getI64Type());
  return create(
      "convolution", {lhs, rhs}, tensor(out, f32()),
      {b.getNamedAttr("dimension_numbers", opaque(dimsText)),
       b.getNamedAttr("window_strides", b.getDenseI64ArrayAttr(strides)),
       b.getNamedAttr("padding",
                      DenseIntElementsAttr::get(padType, padding)),
       b.getNamedAttr("lhs_dilation", b.getDenseI64ArrayAttr(lhsDilation)),
       b.getNamedAttr("rhs_dilation", b.getDenseI64ArrayAttr(rhsDilation)),
       b.getNamedAttr("feature_group_count",
                      b.getI64IntegerAttr(featureGroups)),
       b.getNamedAttr("batch_group_count", b.getI64IntegerAttr(batchGroups))});
}

//===----------------------------------------------------------------------===//
// Reductions
//===----------------------------------------------------------------------===//

void StablehloBuilder::buildCombiner(Region &region, StringRef combiner,
                                     Type elementType) {
  auto scalar = tensor({}, elementType);
  Block *block = new Block();
  region.push_back(block);
  Value a = block->addArgument(scalar, loc);
  Value c = block->addArgument(scalar, loc);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(block);
  Value r = create(combiner, {a, c}, scalar);
  OperationState ret(loc, "stablehlo.return");
  ret.addOperands(r);
  b.create(ret);
}

Value StablehloBuilder::reduce(Value a, ArrayRef<int64_t> dims,
                               StringRef combiner, Value init) {
  auto type = cast<RankedTensorType>(a.getType());
  SmallVector<int64_t> out;
  for (auto [i, d] : llvm::enumerate(type.getShape()))
    if (!llvm::is_contained(dims, (int64_t)i))
      out.push_back(d);
  OperationState state(loc, "stablehlo.reduce");
  state.addOperands({a, init});
  state.addTypes(tensor(out, type.getElementType()));
  state.addAttribute("dimensions", b.getDenseI64ArrayAttr(dims));
  buildCombiner(*state.addRegion(), combiner, type.getElementType());
  return b.create(state)->getResult(0);
}

Value StablehloBuilder::reduceSum(Value a, ArrayRef<int64_t> dims) {
  Type elementType = cast<RankedTensorType>(a.getType()).getElementType();
  Value zero = elementType.isF32() ? splat(0.0f) : splatI32(0);
  return reduce(a, dims, "add", zero);
}

/// The largest divisor of `d` in [2, limit], or 0 if there is none.
static int64_t largestFactor(int64_t d, int64_t limit) {
  for (int64_t f = std::min(d, limit); f >= 2; --f)
    if (d % f == 0)
      return f;
  return 0;
}

Value StablehloBuilder::reduceSumStaged(Value a, ArrayRef<int64_t> dims) {
  // Split every reduced dimension longer than a stage into factors (the
  // inner factor as large as a stage allows): [N, ...] -> [N / f, f, ...].
  // A dimension with no such factor stays one stage.
  ArrayRef<int64_t> in = shape(a);
  SmallVector<int64_t> split;
  SmallVector<bool> reduced;
  for (auto [i, d] : llvm::enumerate(in)) {
    bool isReduced = llvm::is_contained(dims, (int64_t)i);
    SmallVector<int64_t, 4> factors;
    int64_t rest = d;
    while (isReduced && rest > kMaxSumStage) {
      int64_t f = largestFactor(rest, kMaxSumStage);
      if (!f)
        break;
      factors.push_back(f);
      rest /= f;
    }
    factors.push_back(rest);
    for (int64_t f : llvm::reverse(factors)) {
      split.push_back(f);
      reduced.push_back(isReduced);
    }
  }
  Value v = split.size() == in.size() ? a : reshape(a, split);
  // Innermost reduced dimension first: its terms are the closest in memory.
  for (int64_t i = split.size() - 1; i >= 0; --i)
    if (reduced[i])
      v = reduceSum(v, {i});
  return v;
}

Value StablehloBuilder::reduceMax(Value a, ArrayRef<int64_t> dims) {
  return reduce(a, dims, "maximum",
                splat(-std::numeric_limits<float>::infinity()));
}

Value StablehloBuilder::reduceMinI32(Value a, ArrayRef<int64_t> dims) {
  return reduce(a, dims, "minimum",
                splatI32(std::numeric_limits<int32_t>::max()));
}

Value StablehloBuilder::reduceWindow(Value a, Value init,
                                     ArrayRef<int64_t> window,
                                     ArrayRef<int64_t> strides,
                                     StringRef combiner) {
  SmallVector<int64_t> out;
  for (auto [d, w, s] : llvm::zip_equal(shape(a), window, strides))
    out.push_back((d - w) / s + 1);
  OperationState state(loc, "stablehlo.reduce_window");
  state.addOperands({a, init});
  state.addTypes(tensor(out, f32()));
  state.addAttribute("window_dimensions", b.getDenseI64ArrayAttr(window));
  state.addAttribute("window_strides", b.getDenseI64ArrayAttr(strides));
  buildCombiner(*state.addRegion(), combiner, f32());
  return b.create(state)->getResult(0);
}

Value StablehloBuilder::reduceWindowMax(Value a, ArrayRef<int64_t> window,
                                        ArrayRef<int64_t> strides) {
  return reduceWindow(a, splat(-std::numeric_limits<float>::infinity()), window,
                      strides, "maximum");
}

Value StablehloBuilder::reduceWindowSum(Value a, ArrayRef<int64_t> window,
                                        ArrayRef<int64_t> strides) {
  return reduceWindow(a, splat(0.0f), window, strides, "add");
}
