//===- NetSpecOps.cpp - netspec operations --------------------------------===//
//
// Part of lean-mlir.
//
// Each layer's shape rules live in its `inferReturnTypes`. MLIR's verifier
// for InferTypeOpInterface re-runs inference with the op's location, so the
// same function guards parsing, building and verification. Every rule has a
// label (`conv2d_c4`) that test/lit/Dialect/NetSpec/invalid.mlir repeats.
//
//===----------------------------------------------------------------------===//

#include "lean_mlir/Dialect/NetSpec/NetSpecOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringSet.h"

using namespace mlir;
using namespace lean_mlir::netspec;

#include "lean_mlir/Dialect/NetSpec/NetSpecEnums.cpp.inc"
#include "lean_mlir/Dialect/NetSpec/NetSpecInterfaces.cpp.inc"

//===----------------------------------------------------------------------===//
// Shared shape checks
//===----------------------------------------------------------------------===//

namespace {
/// Checks that `type` is an activation of rank `rank` (or at least `minRank`
/// when `rank` is 0): a ranked tensor whose leading batch dimension is
/// dynamic or positive and whose other dimensions are static and positive.
LogicalResult checkActivation(std::optional<Location> loc, StringRef opName,
                              StringRef what, Type type, int64_t rank,
                              int64_t minRank, StringRef layout) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  if (!tensor)
    return emitOptionalError(loc, "'", opName, "' op ", what,
                             " must be a ranked tensor, got ", type);
  if ((rank && tensor.getRank() != rank) ||
      (!rank && tensor.getRank() < minRank))
    return emitOptionalError(
        loc, "'", opName, "' op ", what, " must be ",
        rank ? "a rank-" + std::to_string(rank) + " " + layout.str() + " tensor"
             : "a tensor of rank >= " + std::to_string(minRank),
        ", got ", type);
  for (auto [i, dim] : llvm::enumerate(tensor.getShape())) {
    if (i == 0 && ShapedType::isDynamic(dim))
      continue;
    if (ShapedType::isDynamic(dim))
      return emitOptionalError(loc, "'", opName, "' op ", what,
                               " must have static non-batch dimensions, got ",
                               type);
    if (dim <= 0)
      return emitOptionalError(loc, "'", opName, "' op ", what,
                               " must have positive dimensions, got ", type);
  }
  return success();
}

/// Checks that `type` is a static tensor of the given shape.
LogicalResult checkParamShape(std::optional<Location> loc, StringRef opName,
                              StringRef what, Type type,
                              ArrayRef<int64_t> expected, StringRef why) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  if (!tensor || tensor.getShape() != expected)
    return emitOptionalError(loc, "'", opName, "' op ", what, " must be ",
                             RankedTensorType::get(expected,
                                                   Float32Type::get(
                                                       type.getContext())),
                             " (", why, "), got ", type);
  return success();
}

/// The checks batch_norm and layer_norm share: a [N, C] or NCHW input, or
/// with `tokens` also a [N, T, C] sequence (_c1), `params` each [C] (_c2) and
/// epsilon > 0, which keeps the division defined (_c3).
LogicalResult checkNormalization(std::optional<Location> loc, StringRef opName,
                                 Type inputType,
                                 ArrayRef<std::pair<StringRef, Value>> params,
                                 double eps, bool tokens = false) {
  auto input = dyn_cast<RankedTensorType>(inputType);
  int64_t rank = input ? input.getRank() : 0;
  bool sequence = tokens && rank == 3;
  int64_t expected = rank == 2 ? 2 : sequence ? 3 : 4;
  if (failed(checkActivation(loc, opName, "input", inputType, expected, 2,
                             rank == 2   ? "[batch, channels]"
                             : sequence ? "[batch, tokens, channels]"
                                        : "NCHW")))
    return failure();
  int64_t channels = input.getShape()[sequence ? 2 : 1];
  for (auto [what, value] : params)
    if (failed(checkParamShape(loc, opName, what, value.getType(), {channels},
                               "one per channel of the input")))
      return failure();
  if (!(eps > 0))
    return emitOptionalError(loc, "'", opName,
                             "' op epsilon must be positive, got ", eps);
  return success();
}

LogicalResult checkPositive(std::optional<Location> loc, StringRef opName,
                            StringRef what, int64_t value) {
  if (value <= 0)
    return emitOptionalError(loc, "'", opName, "' op ", what,
                             " must be positive, got ", value);
  return success();
}

/// Elements of one sample of an activation shape (every dimension but the
/// batch).
int64_t sampleSize(ArrayRef<int64_t> shape) {
  int64_t n = 1;
  for (int64_t dim : shape.drop_front())
    n *= dim;
  return n;
}

RankedTensorType activationType(int64_t batch, ArrayRef<int64_t> rest,
                                MLIRContext *ctx) {
  SmallVector<int64_t> shape{batch};
  shape.append(rest.begin(), rest.end());
  return RankedTensorType::get(shape, Float32Type::get(ctx));
}
} // namespace

//===----------------------------------------------------------------------===//
// Custom assembly: enum attributes as bare keywords
//===----------------------------------------------------------------------===//

// Inside an op, `padding(same)` reads better than the attribute's own
// `#netspec.padding<same>`, which stays the generic form.
static unsigned maxEnumValue(Padding) { return getMaxEnumValForPadding(); }
static unsigned maxEnumValue(Activation) {
  return getMaxEnumValForActivation();
}
static unsigned maxEnumValue(Init) { return getMaxEnumValForInit(); }

template <typename AttrT>
static void printEnumKeyword(OpAsmPrinter &printer, Operation *, AttrT attr) {
  printer << stringifyEnum(attr.getValue());
}

template <typename AttrT>
static ParseResult parseEnumKeyword(OpAsmParser &parser, AttrT &attr) {
  using EnumT = decltype(std::declval<AttrT>().getValue());
  SMLoc loc = parser.getCurrentLocation();
  StringRef keyword;
  if (parser.parseKeyword(&keyword))
    return failure();
  std::optional<EnumT> value = symbolizeEnum<EnumT>(keyword);
  if (!value) {
    InFlightDiagnostic diag = parser.emitError(loc, "unknown ")
                              << AttrT::getMnemonic() << " '" << keyword
                              << "', expected one of:";
    for (unsigned i = 0, e = maxEnumValue(EnumT{}); i <= e; ++i)
      diag << " " << stringifyEnum(static_cast<EnumT>(i));
    return diag;
  }
  attr = AttrT::get(parser.getContext(), *value);
  return success();
}

//===----------------------------------------------------------------------===//
// ModelOp
//===----------------------------------------------------------------------===//

void ModelOp::build(OpBuilder &builder, OperationState &state, StringRef name) {
  state.addAttribute(getSymNameAttrName(state.name),
                     builder.getStringAttr(name));
  Region *body = state.addRegion();
  body->push_back(new Block());
}

InputOp ModelOp::getInputOp() {
  for (auto input : getBody().getOps<InputOp>())
    return input;
  return nullptr;
}

OutputOp ModelOp::getOutputOp() {
  return dyn_cast<OutputOp>(getBody().front().getTerminator());
}

SmallVector<ParamOp, 8> ModelOp::getParams() {
  return llvm::to_vector<8>(getBody().getOps<ParamOp>());
}

int64_t ModelOp::getParamCount() {
  int64_t total = 0;
  for (ParamOp param : getBody().getOps<ParamOp>())
    if (param.isTrainable())
      total += param.getNumElements();
  return total;
}

LogicalResult ModelOp::verify() {
  Block &block = getBody().front();
  // model_c1: exactly one input.
  auto inputs = llvm::to_vector(block.getOps<InputOp>());
  if (inputs.size() != 1)
    return emitOpError("must contain exactly one 'netspec.input', found ")
           << inputs.size();
  // model_c2: parameter names are unique, so they can key checkpoints.
  llvm::StringMap<ParamOp> seen;
  for (ParamOp param : block.getOps<ParamOp>()) {
    auto [it, inserted] = seen.try_emplace(param.getParamName(), param);
    if (!inserted) {
      InFlightDiagnostic diag = param.emitOpError("parameter name '")
                                << param.getParamName()
                                << "' is already used in model @"
                                << getSymName();
      diag.attachNote(it->second.getLoc()) << "first declared here";
      return diag;
    }
  }
  // model_c3: the body ends with netspec.output.
  if (block.empty() || !isa<OutputOp>(block.back()))
    return emitOpError("body must end with 'netspec.output'");
  // model_c4: a running statistic is updated by one layer only (a train step
  // returns one new value per parameter).
  llvm::DenseMap<Value, BatchNormOp> updater;
  for (BatchNormOp bn : block.getOps<BatchNormOp>())
    for (Value stat : {bn.getRunningMean(), bn.getRunningVar()}) {
      auto [it, inserted] = updater.try_emplace(stat, bn);
      if (!inserted) {
        InFlightDiagnostic diag =
            bn.emitOpError("running statistic '")
            << stat.getDefiningOp<ParamOp>().getParamName()
            << "' is already updated by another batch_norm; each layer needs "
               "its own";
        diag.attachNote(it->second.getLoc()) << "the other batch_norm";
        return diag;
      }
    }
  return success();
}

//===----------------------------------------------------------------------===//
// InputOp, ParamOp, OutputOp
//===----------------------------------------------------------------------===//

LogicalResult InputOp::verify() {
  // input_c1: a batch of samples with static per-sample shape.
  return checkActivation(getLoc(), getOperationName(), "result", getType(),
                         /*rank=*/0, /*minRank=*/2, "");
}

int64_t ParamOp::getNumElements() { return getType().getNumElements(); }

std::pair<int64_t, int64_t> ParamOp::getFans() {
  ArrayRef<int64_t> shape = getType().getShape();
  if (shape.size() == 4) {
    int64_t receptive = shape[2] * shape[3];
    return {shape[1] * receptive, shape[0] * receptive};
  }
  if (shape.size() == 2)
    return {shape[0], shape[1]};
  int64_t n = getNumElements();
  return {n, n};
}

LogicalResult ParamOp::verify() {
  // param_c1: a non-empty name.
  if (getParamName().empty())
    return emitOpError("parameter name must not be empty");
  // param_c2: a static shape with positive dimensions.
  RankedTensorType type = getType();
  if (!type.hasStaticShape() ||
      llvm::any_of(type.getShape(), [](int64_t d) { return d <= 0; }))
    return emitOpError("parameter '")
           << getParamName() << "' must have a static shape with positive "
           << "dimensions, got " << type;
  // param_c3: fan-based init needs a layout that defines fan-in.
  Init init = getInit();
  bool fanBased = init == Init::HeNormal || init == Init::HeUniform ||
                  init == Init::GlorotUniform;
  if (fanBased && type.getRank() != 2 && type.getRank() != 4)
    return emitOpError("init '")
           << stringifyInit(init) << "' of parameter '" << getParamName()
           << "' needs a rank-2 [in, out] or rank-4 OIHW weight to define "
           << "fan-in, got " << type;
  return success();
}

LogicalResult OutputOp::verify() {
  // output_c1: logits are [batch, classes].
  return checkActivation(getLoc(), getOperationName(), "logits",
                         getLogits().getType(), /*rank=*/2, 2,
                         "[batch, classes]");
}

//===----------------------------------------------------------------------===//
// Conv2dOp
//===----------------------------------------------------------------------===//

std::pair<int64_t, int64_t>
Conv2dOp::computePadding(Padding mode, std::optional<ArrayRef<int64_t>> pads,
                         int axis, int64_t in, int64_t kernel, int64_t stride) {
  if (mode == Padding::Valid)
    return {0, 0};
  if (mode == Padding::Explicit)
    return {(*pads)[2 * axis], (*pads)[2 * axis + 1]};
  int64_t out = (in + stride - 1) / stride;
  int64_t total = std::max<int64_t>((out - 1) * stride + kernel - in, 0);
  return {total / 2, total - total / 2};
}

LogicalResult Conv2dOp::inferReturnTypes(MLIRContext *ctx,
                                         std::optional<Location> loc,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &results) {
  StringRef name = getOperationName();
  Type inputType = adaptor.getInput().getType();
  Type weightType = adaptor.getWeight().getType();
  // conv2d_c1: NCHW input.
  if (failed(checkActivation(loc, name, "input", inputType, 4, 4, "NCHW")))
    return failure();
  // conv2d_c2: static OIHW weight with positive dimensions.
  auto weight = dyn_cast<RankedTensorType>(weightType);
  if (!weight || weight.getRank() != 4 || !weight.hasStaticShape() ||
      llvm::any_of(weight.getShape(), [](int64_t d) { return d <= 0; }))
    return emitOptionalError(loc, "'", name,
                             "' op weight must be a static rank-4 OIHW tensor "
                             "with positive dimensions, got ",
                             weightType);
  auto input = cast<RankedTensorType>(inputType);
  ArrayRef<int64_t> in = input.getShape();
  ArrayRef<int64_t> w = weight.getShape();
  // conv2d_c7: groups divide the channels.
  // Read as an attribute: while parsing, a default-valued one is not filled
  // in yet.
  IntegerAttr groupsAttr = adaptor.getGroupsAttr();
  int64_t groups = groupsAttr ? groupsAttr.getInt() : 1;
  if (failed(checkPositive(loc, name, "groups", groups)))
    return failure();
  if (in[1] % groups != 0 || w[0] % groups != 0)
    return emitOptionalError(loc, "'", name, "' op groups(", groups,
                             ") must divide the input's ", in[1],
                             " channels and the weight's ", w[0],
                             " output channels");
  // conv2d_c3: channels agree.
  if (w[1] * groups != in[1] && groups == 1)
    return emitOptionalError(loc, "'", name, "' op input has ", in[1],
                             " channels but the weight expects ", w[1],
                             " (weight ", weightType, " is OIHW)");
  if (w[1] * groups != in[1])
    return emitOptionalError(loc, "'", name, "' op input has ", in[1],
                             " channels but the weight expects ", w[1] * groups,
                             " (weight ", weightType, " is OIHW: ", w[1],
                             " input channels in each of ", groups,
                             " groups)");
  // conv2d_c4: one bias per output channel (if there is a bias).
  if (adaptor.getBias() &&
      failed(checkParamShape(loc, name, "bias", adaptor.getBias().getType(),
                             {w[0]}, "one per output channel")))
    return failure();
  // conv2d_c5: positive stride.
  int64_t stride = adaptor.getStride();
  if (failed(checkPositive(loc, name, "stride", stride)))
    return failure();
  // conv2d_c8: explicit padding has its four non-negative pads, and only it.
  std::optional<ArrayRef<int64_t>> pads = adaptor.getPads();
  bool isExplicit = adaptor.getPadding() == Padding::Explicit;
  if (isExplicit != pads.has_value())
    return emitOptionalError(loc, "'", name, "' op ",
                             isExplicit ? "padding(explicit) needs pads([top, "
                                          "bottom, left, right])"
                                        : "pads are for padding(explicit), not "
                                          "padding(" +
                                              stringifyPadding(
                                                  adaptor.getPadding())
                                                  .str() +
                                              ")");
  if (pads && (pads->size() != 4 ||
               llvm::any_of(*pads, [](int64_t p) { return p < 0; })))
    return emitOptionalError(loc, "'", name,
                             "' op pads must be four non-negative counts "
                             "[top, bottom, left, right], got ",
                             pads->size(), " values");
  SmallVector<int64_t, 3> out{w[0]};
  for (int axis = 0; axis < 2; ++axis) {
    int64_t size = in[2 + axis], kernel = w[2 + axis];
    auto [lo, hi] = computePadding(adaptor.getPadding(), pads, axis, size,
                                   kernel, stride);
    // conv2d_c6: the kernel fits in the padded input.
    if (kernel > size + lo + hi)
      return emitOptionalError(loc, "'", name, "' op kernel ", w[2], "x", w[3],
                               " is larger than the padded input ", in[2], "x",
                               in[3], " (padding ",
                               stringifyPadding(adaptor.getPadding()), ")");
    out.push_back((size + lo + hi - kernel) / stride + 1);
  }
  results.push_back(activationType(in[0], out, ctx));
  return success();
}

int64_t Conv2dOp::getForwardFlopsPerSample() {
  ArrayRef<int64_t> w = getWeight().getType().getShape();
  ArrayRef<int64_t> out = getType().getShape();
  return 2 * w[1] * w[2] * w[3] * out[1] * out[2] * out[3];
}

//===----------------------------------------------------------------------===//
// MaxPool2dOp
//===----------------------------------------------------------------------===//

/// The checks and the result type max_pool2d and avg_pool2d share (their
/// constraints c1-c5). `paddingAttr` is read as an attribute: while parsing, a
/// default-valued one is not filled in yet.
static LogicalResult inferPoolType(MLIRContext *ctx,
                                   std::optional<Location> loc, StringRef name,
                                   Type inputType, int64_t window,
                                   int64_t stride, IntegerAttr paddingAttr,
                                   SmallVectorImpl<Type> &results) {
  // pool_c1: NCHW input.
  if (failed(checkActivation(loc, name, "input", inputType, 4, 4, "NCHW")))
    return failure();
  // pool_c2, pool_c3: positive window and stride.
  if (failed(checkPositive(loc, name, "window", window)) ||
      failed(checkPositive(loc, name, "stride", stride)))
    return failure();
  ArrayRef<int64_t> in = cast<RankedTensorType>(inputType).getShape();
  // pool_c5: 0 <= padding <= window / 2, so that every window holds an input
  // element (torch.nn.MaxPool2d and AvgPool2d allow no more).
  int64_t pad = paddingAttr ? paddingAttr.getInt() : 0;
  if (pad < 0 || 2 * pad > window)
    return emitOptionalError(loc, "'", name, "' op padding(", pad,
                             ") must be between 0 and half the window (",
                             window, ")");
  // max_pool2d_c4: the window fits the padded input.
  if (window > in[2] + 2 * pad || window > in[3] + 2 * pad)
    return emitOptionalError(loc, "'", name, "' op window ", window, "x",
                             window, " does not fit the input ", in[2], "x",
                             in[3], pad ? " padded by " + Twine(pad).str()
                                        : std::string());
  results.push_back(
      activationType(in[0],
                     {in[1], (in[2] + 2 * pad - window) / stride + 1,
                      (in[3] + 2 * pad - window) / stride + 1},
                     ctx));
  return success();
}

LogicalResult MaxPool2dOp::inferReturnTypes(MLIRContext *ctx,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &results) {
  return inferPoolType(ctx, loc, getOperationName(),
                       adaptor.getInput().getType(), adaptor.getWindow(),
                       adaptor.getStride(), adaptor.getPaddingAttr(), results);
}

LogicalResult AvgPool2dOp::inferReturnTypes(MLIRContext *ctx,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &results) {
  return inferPoolType(ctx, loc, getOperationName(),
                       adaptor.getInput().getType(), adaptor.getWindow(),
                       adaptor.getStride(), adaptor.getPaddingAttr(), results);
}

int64_t AvgPool2dOp::getForwardFlopsPerSample() {
  ArrayRef<int64_t> out = getType().getShape();
  // One addition per window element per output, and the scaling.
  return (getWindow() * getWindow() + 1) * out[1] * out[2] * out[3];
}

int64_t MaxPool2dOp::getForwardFlopsPerSample() {
  ArrayRef<int64_t> out = getType().getShape();
  // One comparison per window element per output.
  return getWindow() * getWindow() * out[1] * out[2] * out[3];
}

//===----------------------------------------------------------------------===//
// FlattenOp
//===----------------------------------------------------------------------===//

LogicalResult FlattenOp::inferReturnTypes(MLIRContext *ctx,
                                          std::optional<Location> loc,
                                          Adaptor adaptor,
                                          SmallVectorImpl<Type> &results) {
  Type inputType = adaptor.getInput().getType();
  // flatten_c1: a batch of samples.
  if (failed(checkActivation(loc, getOperationName(), "input", inputType, 0, 2,
                             "")))
    return failure();
  ArrayRef<int64_t> in = cast<RankedTensorType>(inputType).getShape();
  results.push_back(activationType(in[0], {sampleSize(in)}, ctx));
  return success();
}

int64_t FlattenOp::getForwardFlopsPerSample() { return 0; }

//===----------------------------------------------------------------------===//
// DenseOp
//===----------------------------------------------------------------------===//

LogicalResult DenseOp::inferReturnTypes(MLIRContext *ctx,
                                        std::optional<Location> loc,
                                        Adaptor adaptor,
                                        SmallVectorImpl<Type> &results) {
  StringRef name = getOperationName();
  Type inputType = adaptor.getInput().getType();
  Type weightType = adaptor.getWeight().getType();
  // dense_c1: a [batch, features] input, or a [batch, tokens, features]
  // sequence.
  auto inputTensor = dyn_cast<RankedTensorType>(inputType);
  if (inputTensor && inputTensor.getRank() != 2 && inputTensor.getRank() != 3)
    return emitOptionalError(loc, "'", name,
                             "' op input must be [batch, features] or [batch, "
                             "tokens, features], got ",
                             inputType);
  bool sequence = inputTensor && inputTensor.getRank() == 3;
  if (failed(checkActivation(
          loc, name, "input", inputType, sequence ? 3 : 2, 2,
          sequence ? "[batch, tokens, features]" : "[batch, features]")))
    return failure();
  // dense_c2: static [in, out] weight with positive dimensions.
  auto weight = dyn_cast<RankedTensorType>(weightType);
  if (!weight || weight.getRank() != 2 || !weight.hasStaticShape() ||
      llvm::any_of(weight.getShape(), [](int64_t d) { return d <= 0; }))
    return emitOptionalError(loc, "'", name,
                             "' op weight must be a static rank-2 [in, out] "
                             "tensor with positive dimensions, got ",
                             weightType);
  ArrayRef<int64_t> in = cast<RankedTensorType>(inputType).getShape();
  ArrayRef<int64_t> w = weight.getShape();
  // dense_c3: input features agree with the weight.
  if (w[0] != in.back())
    return emitOptionalError(loc, "'", name, "' op input has ", in.back(),
                             " features but the weight expects ", w[0],
                             " (weight ", weightType, " is [in, out])");
  // dense_c4: one bias per output feature (if there is a bias).
  if (adaptor.getBias() &&
      failed(checkParamShape(loc, name, "bias", adaptor.getBias().getType(),
                             {w[1]}, "one per output feature")))
    return failure();
  SmallVector<int64_t, 2> rest(in.drop_front().drop_back());
  rest.push_back(w[1]);
  results.push_back(activationType(in[0], rest, ctx));
  return success();
}

int64_t DenseOp::getForwardFlopsPerSample() {
  ArrayRef<int64_t> w = getWeight().getType().getShape();
  ArrayRef<int64_t> in = getInput().getType().getShape();
  int64_t tokens = in.size() == 3 ? in[1] : 1;
  return 2 * tokens * w[0] * w[1];
}

//===----------------------------------------------------------------------===//
// ReluOp
//===----------------------------------------------------------------------===//

LogicalResult ReluOp::inferReturnTypes(MLIRContext *ctx,
                                       std::optional<Location> loc,
                                       Adaptor adaptor,
                                       SmallVectorImpl<Type> &results) {
  Type inputType = adaptor.getInput().getType();
  // relu_c1: a batch of samples.
  if (failed(checkActivation(loc, getOperationName(), "input", inputType, 0, 2,
                             "")))
    return failure();
  results.push_back(inputType);
  return success();
}

int64_t ReluOp::getForwardFlopsPerSample() {
  return sampleSize(getType().getShape());
}

//===----------------------------------------------------------------------===//
// BatchNormOp
//===----------------------------------------------------------------------===//

LogicalResult BatchNormOp::inferReturnTypes(MLIRContext *ctx,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &results) {
  StringRef name = getOperationName();
  Type inputType = adaptor.getInput().getType();
  // batch_norm_c1 - c3: a [N, C] or NCHW activation; scale, shift and the
  // running statistics [C]; epsilon > 0.
  std::pair<StringRef, Value> perChannel[] = {
      {"scale", adaptor.getScale()},
      {"shift", adaptor.getShift()},
      {"running_mean", adaptor.getRunningMean()},
      {"running_var", adaptor.getRunningVar()}};
  if (failed(checkNormalization(loc, name, inputType, perChannel,
                                adaptor.getEpsilon().convertToDouble())))
    return failure();
  // batch_norm_c4: momentum in [0, 1].
  double momentum = adaptor.getMomentum().convertToDouble();
  if (!(momentum >= 0 && momentum <= 1))
    return emitOptionalError(loc, "'", name,
                             "' op momentum must be in [0, 1], got ",
                             momentum);
  results.push_back(inputType);
  return success();
}

LogicalResult BatchNormOp::verify() {
  // batch_norm_c5: the running statistics are non-trainable parameters, so
  // that a train step can return them updated and no optimizer touches them.
  for (auto [what, value] : {std::pair<StringRef, Value>{"running_mean",
                                                         getRunningMean()},
                             {"running_var", getRunningVar()}}) {
    auto param = value.getDefiningOp<ParamOp>();
    if (!param)
      return emitOpError() << what
                           << " must be a 'netspec.param' marked "
                              "non_trainable, got a value that is not a "
                              "parameter";
    if (param.isTrainable())
      return emitOpError() << what << " must be a non_trainable parameter; '"
                           << param.getParamName()
                           << "' is trainable (mark it non_trainable)";
  }
  return success();
}

int64_t BatchNormOp::getForwardFlopsPerSample() {
  // Normalise, scale and shift: about two multiply-adds per element.
  return 4 * sampleSize(getType().getShape());
}

//===----------------------------------------------------------------------===//
// GlobalAvgPoolOp
//===----------------------------------------------------------------------===//

LogicalResult GlobalAvgPoolOp::inferReturnTypes(
    MLIRContext *ctx, std::optional<Location> loc, Adaptor adaptor,
    SmallVectorImpl<Type> &results) {
  Type inputType = adaptor.getInput().getType();
  // global_avg_pool_c1: NCHW input.
  if (failed(checkActivation(loc, getOperationName(), "input", inputType, 4, 4,
                             "NCHW")))
    return failure();
  ArrayRef<int64_t> in = cast<RankedTensorType>(inputType).getShape();
  results.push_back(activationType(in[0], {in[1]}, ctx));
  return success();
}

int64_t GlobalAvgPoolOp::getForwardFlopsPerSample() {
  ArrayRef<int64_t> in = getInput().getType().getShape();
  return in[1] * in[2] * in[3];
}

//===----------------------------------------------------------------------===//
// LayerNormOp
//===----------------------------------------------------------------------===//

LogicalResult LayerNormOp::inferReturnTypes(MLIRContext *ctx,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &results) {
  Type inputType = adaptor.getInput().getType();
  // layer_norm_c1 - c3: a [N, C], [N, T, C] or NCHW activation; weight and
  // bias [C]; epsilon > 0.
  std::pair<StringRef, Value> perChannel[] = {{"weight", adaptor.getWeight()},
                                              {"bias", adaptor.getBias()}};
  if (failed(checkNormalization(loc, getOperationName(), inputType, perChannel,
                                adaptor.getEpsilon().convertToDouble(),
                                /*tokens=*/true)))
    return failure();
  results.push_back(inputType);
  return success();
}

int64_t LayerNormOp::getForwardFlopsPerSample() {
  // Mean, variance, normalise, scale and shift: about 8 per element.
  int64_t n = 1;
  for (int64_t d : getInput().getType().getShape().drop_front())
    n *= d;
  return 8 * n;
}

//===----------------------------------------------------------------------===//
// LayerScaleOp
//===----------------------------------------------------------------------===//

LogicalResult LayerScaleOp::inferReturnTypes(MLIRContext *ctx,
                                             std::optional<Location> loc,
                                             Adaptor adaptor,
                                             SmallVectorImpl<Type> &results) {
  StringRef name = getOperationName();
  Type inputType = adaptor.getInput().getType();
  // layer_scale_c1: NCHW input.
  if (failed(checkActivation(loc, name, "input", inputType, 4, 4, "NCHW")))
    return failure();
  int64_t c = cast<RankedTensorType>(inputType).getShape()[1];
  // layer_scale_c2: gamma [C, 1, 1].
  if (failed(checkParamShape(loc, name, "gamma", adaptor.getGamma().getType(),
                             {c, 1, 1}, "one factor per channel")))
    return failure();
  results.push_back(inputType);
  return success();
}

int64_t LayerScaleOp::getForwardFlopsPerSample() {
  int64_t n = 1;
  for (int64_t d : getInput().getType().getShape().drop_front())
    n *= d;
  return n;
}

//===----------------------------------------------------------------------===//
// SqueezeExciteOp
//===----------------------------------------------------------------------===//

LogicalResult SqueezeExciteOp::inferReturnTypes(
    MLIRContext *ctx, std::optional<Location> loc, Adaptor adaptor,
    SmallVectorImpl<Type> &results) {
  StringRef name = getOperationName();
  Type inputType = adaptor.getInput().getType();
  // squeeze_excite_c1: NCHW input.
  if (failed(checkActivation(loc, name, "input", inputType, 4, 4, "NCHW")))
    return failure();
  int64_t c = cast<RankedTensorType>(inputType).getShape()[1];
  // squeeze_excite_c2: fc1's weight [S, C, 1, 1] with S > 0.
  auto w1 = dyn_cast<RankedTensorType>(adaptor.getFc1Weight().getType());
  if (!w1 || w1.getRank() != 4 || !w1.hasStaticShape() || w1.getDimSize(0) <= 0 ||
      w1.getDimSize(1) != c || w1.getDimSize(2) != 1 || w1.getDimSize(3) != 1)
    return emitOptionalError(loc, "'", name,
                             "' op fc1 weight must be [squeeze, ", c,
                             ", 1, 1] (a 1x1 convolution from the input's ", c,
                             " channels), got ", adaptor.getFc1Weight().getType());
  int64_t s = w1.getDimSize(0);
  // squeeze_excite_c3: the other parameters agree.
  if (failed(checkParamShape(loc, name, "fc1 bias", adaptor.getFc1Bias().getType(),
                             {s}, "one per squeeze channel")) ||
      failed(checkParamShape(loc, name, "fc2 weight",
                             adaptor.getFc2Weight().getType(), {c, s, 1, 1},
                             "a 1x1 convolution back to the input's channels")) ||
      failed(checkParamShape(loc, name, "fc2 bias", adaptor.getFc2Bias().getType(),
                             {c}, "one per input channel")))
    return failure();
  results.push_back(inputType);
  return success();
}

int64_t SqueezeExciteOp::getForwardFlopsPerSample() {
  ArrayRef<int64_t> in = getInput().getType().getShape();
  int64_t s = getFc1Weight().getType().getShape()[0];
  // The mean, the two products, and the gate's multiply.
  return in[1] * in[2] * in[3] * 2 + 2 * 2 * s * in[1];
}

//===----------------------------------------------------------------------===//
// AddOp
//===----------------------------------------------------------------------===//

LogicalResult AddOp::inferReturnTypes(MLIRContext *ctx,
                                      std::optional<Location> loc,
                                      Adaptor adaptor,
                                      SmallVectorImpl<Type> &results) {
  StringRef name = getOperationName();
  Type lhs = adaptor.getLhs().getType(), rhs = adaptor.getRhs().getType();
  // add_c1: activations.
  if (failed(checkActivation(loc, name, "lhs", lhs, 0, 2, "")) ||
      failed(checkActivation(loc, name, "rhs", rhs, 0, 2, "")))
    return failure();
  // add_c2: of one type (no broadcasting).
  if (lhs != rhs)
    return emitOptionalError(loc, "'", name,
                             "' op operands must have the same type, got ",
                             lhs, " and ", rhs);
  results.push_back(lhs);
  return success();
}

int64_t AddOp::getForwardFlopsPerSample() {
  return sampleSize(getType().getShape());
}

//===----------------------------------------------------------------------===//
// Tokens and attention
//===----------------------------------------------------------------------===//

namespace {
/// Checks a [N, T, C] token sequence (`what` of `opName`).
LogicalResult checkSequence(std::optional<Location> loc, StringRef opName,
                            StringRef what, Type type) {
  return checkActivation(loc, opName, what, type, 3, 3,
                         "[batch, tokens, channels]");
}
} // namespace

LogicalResult TokensOp::inferReturnTypes(MLIRContext *ctx,
                                         std::optional<Location> loc,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &results) {
  Type inputType = adaptor.getInput().getType();
  // tokens_c1: NCHW input.
  if (failed(checkActivation(loc, getOperationName(), "input", inputType, 4, 4,
                             "NCHW")))
    return failure();
  ArrayRef<int64_t> in = cast<RankedTensorType>(inputType).getShape();
  results.push_back(activationType(in[0], {in[2] * in[3], in[1]}, ctx));
  return success();
}

int64_t TokensOp::getForwardFlopsPerSample() { return 0; }

LogicalResult ClassTokenOp::inferReturnTypes(MLIRContext *ctx,
                                             std::optional<Location> loc,
                                             Adaptor adaptor,
                                             SmallVectorImpl<Type> &results) {
  StringRef name = getOperationName();
  Type inputType = adaptor.getInput().getType();
  // class_token_c1: a token sequence.
  if (failed(checkSequence(loc, name, "input", inputType)))
    return failure();
  ArrayRef<int64_t> in = cast<RankedTensorType>(inputType).getShape();
  // class_token_c2: the token [1, 1, C].
  if (failed(checkParamShape(loc, name, "token", adaptor.getToken().getType(),
                             {1, 1, in[2]}, "one token of the sequence's "
                                            "channels")))
    return failure();
  results.push_back(activationType(in[0], {in[1] + 1, in[2]}, ctx));
  return success();
}

int64_t ClassTokenOp::getForwardFlopsPerSample() { return 0; }

LogicalResult PositionEmbeddingOp::inferReturnTypes(
    MLIRContext *ctx, std::optional<Location> loc, Adaptor adaptor,
    SmallVectorImpl<Type> &results) {
  StringRef name = getOperationName();
  Type inputType = adaptor.getInput().getType();
  // position_embedding_c1: a token sequence.
  if (failed(checkSequence(loc, name, "input", inputType)))
    return failure();
  ArrayRef<int64_t> in = cast<RankedTensorType>(inputType).getShape();
  // position_embedding_c2: the embedding [1, T, C].
  if (failed(checkParamShape(loc, name, "embedding",
                             adaptor.getEmbedding().getType(),
                             {1, in[1], in[2]}, "one per token and channel")))
    return failure();
  results.push_back(inputType);
  return success();
}

int64_t PositionEmbeddingOp::getForwardFlopsPerSample() {
  return sampleSize(getType().getShape());
}

LogicalResult AttentionOp::inferReturnTypes(MLIRContext *ctx,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &results) {
  StringRef name = getOperationName();
  Type qkvType = adaptor.getQkv().getType();
  // attention_c1: a token sequence.
  if (failed(checkSequence(loc, name, "qkv", qkvType)))
    return failure();
  ArrayRef<int64_t> in = cast<RankedTensorType>(qkvType).getShape();
  int64_t heads = adaptor.getHeads();
  // attention_c2: heads > 0.
  if (failed(checkPositive(loc, name, "heads", heads)))
    return failure();
  // attention_c3: q, k and v side by side, each split evenly over the heads.
  if (in[2] % (3 * heads))
    return emitOptionalError(loc, "'", name, "' op qkv has ", in[2],
                             " channels, not 3 x heads x head size (q, k and "
                             "v of ",
                             heads, " heads each)");
  results.push_back(activationType(in[0], {in[1], in[2] / 3}, ctx));
  return success();
}

int64_t AttentionOp::getForwardFlopsPerSample() {
  ArrayRef<int64_t> in = getQkv().getType().getShape();
  // Two [T, T] x D products per head: 2 * 2 * T^2 * C in all, and the
  // softmax.
  int64_t t = in[1], c = in[2] / 3;
  return 4 * t * t * c + 5 * t * t * getHeads();
}

LogicalResult TakeTokenOp::inferReturnTypes(MLIRContext *ctx,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &results) {
  StringRef name = getOperationName();
  Type inputType = adaptor.getInput().getType();
  // take_token_c1: a token sequence.
  if (failed(checkSequence(loc, name, "input", inputType)))
    return failure();
  ArrayRef<int64_t> in = cast<RankedTensorType>(inputType).getShape();
  // take_token_c2: an index into it.
  int64_t index = adaptor.getIndex();
  if (index < 0 || index >= in[1])
    return emitOptionalError(loc, "'", name, "' op index ", index,
                             " is not a token of the ", in[1],
                             "-token sequence");
  results.push_back(activationType(in[0], {in[2]}, ctx));
  return success();
}

int64_t TakeTokenOp::getForwardFlopsPerSample() { return 0; }

#define GET_OP_CLASSES
#include "lean_mlir/Dialect/NetSpec/NetSpecOps.cpp.inc"
