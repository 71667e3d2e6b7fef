//===- NetSpecToStableHLO.cpp - models to StableHLO functions -------------===//
//
// Part of lean-mlir.
//
// Turning a model into functions is a module-level rewrite (one model op
// becomes up to four functions that share its layers), so it is written as
// one walk over the model rather than as per-op patterns: each layer
// contributes through LayerOpInterface (emitForward / emitVJP, implemented
// next to the op in lib/Dialect/NetSpec/Rules/). The models are then erased
// and a dialect conversion with netspec marked illegal checks that nothing
// of netspec survives.
//
//===----------------------------------------------------------------------===//

#include "lean_mlir/Conversion/Training.h"
#include "lean_mlir/Dialect/NetSpec/NetSpecOps.h"
#include "lean_mlir/StableHLO/Builder.h"
#include "lean_mlir/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Transforms/DialectConversion.h"
#include "llvm/ADT/StringSet.h"

namespace lean_mlir {
#define GEN_PASS_DEF_NETSPECTOSTABLEHLO
#include "lean_mlir/Transforms/Passes.h.inc"
} // namespace lean_mlir

using namespace mlir;
using namespace lean_mlir;
using namespace lean_mlir::netspec;

namespace {

constexpr llvm::StringLiteral kFunctions[] = {"predict", "eval",
                                              "value_and_grad", "train_step"};

/// The attribute that names what each argument and result of an emitted
/// function is (the grammar is in Passes.td).
constexpr llvm::StringLiteral kRoleAttr = "netspec.role";

/// "<kind>:<parameter name>", the role of a parameter or of its gradient.
std::string paramRole(StringRef kind, ParamOp p) {
  return (kind + ":" + p.getParamName()).str();
}

/// "state:<parameter name>:<slot>", one optimizer-state tensor.
std::string stateRole(ParamOp p, StringRef slot) {
  return ("state:" + p.getParamName() + ":" + slot).str();
}

/// Emits a model's forward and backward passes into the function being
/// built. Netspec values map to their lowered counterparts in `mapping`.
class ModelEmitter {
public:
  ModelEmitter(ModelOp model, int64_t batch) : model(model), batch(batch) {
    params = model.getParams();
    for (Operation &op : model.getBody().front())
      if (auto layer = dyn_cast<LayerOpInterface>(op))
        layers.push_back(layer);
  }

  ArrayRef<ParamOp> getParams() const { return params; }

  /// The input type with the batch fixed.
  RankedTensorType inputType() {
    auto type = model.getInputOp().getType();
    SmallVector<int64_t> shape(type.getShape());
    shape[0] = batch;
    return RankedTensorType::get(shape, type.getElementType());
  }

  RankedTensorType labelsType() {
    return RankedTensorType::get({batch},
                                 IntegerType::get(model.getContext(), 32));
  }

  /// Maps parameters and the input, then emits every layer; returns the
  /// lowered logits.
  Value emitForward(LayerLowering &lowering, ValueRange paramValues,
                    Value x) {
    for (auto [param, value] : llvm::zip_equal(params, paramValues))
      mapping.map(param.getResult(), value);
    mapping.map(model.getInputOp().getResult(), x);
    for (LayerOpInterface layer : layers) {
      lowering.setOwner(layer->getLoc());
      auto part = lowering.part("forward");
      SmallVector<Value> operands = lowered(layer->getOperands());
      lowering.stateUpdates.clear();
      mapping.map(layer.getLayerOutput(),
                  layer.emitForward(lowering, operands));
      for (auto [index, value] : lowering.stateUpdates)
        updatedState[layer->getOperand(index)] = value;
    }
    lowering.setOwner(model.getOutputOp().getLoc());
    return mapping.lookup(model.getOutputOp().getLogits());
  }

  /// Reverse walk from the logits' cotangent; returns one gradient per
  /// parameter, in parameter order (zeros for a parameter no layer reads).
  SmallVector<Value> emitBackward(LayerLowering &lowering, Value dlogits) {
    StablehloBuilder &b = lowering.b;
    DenseMap<Value, Value> cotangents;
    cotangents[model.getOutputOp().getLogits()] = dlogits;
    for (LayerOpInterface layer : llvm::reverse(layers)) {
      Value grad = cotangents.lookup(layer.getLayerOutput());
      if (!grad)
        continue;
      lowering.setOwner(layer->getLoc());
      auto part = lowering.part("backward");
      // The model input needs no cotangent; every other activation does.
      bool needInputGrad = !layer.getLayerInput().getDefiningOp<InputOp>();
      SmallVector<Value> operandGrads;
      layer.emitVJP(lowering, lowered(layer->getOperands()),
                    mapping.lookup(layer.getLayerOutput()), grad,
                    needInputGrad, operandGrads);
      for (auto [operand, g] :
           llvm::zip_equal(layer->getOperands(), operandGrads)) {
        if (!g)
          continue;
        Value &acc = cotangents[operand];
        acc = acc ? addCotangents(lowering, acc, g) : g;
      }
    }
    SmallVector<Value> grads;
    for (ParamOp param : params) {
      if (!param.isTrainable())
        continue;
      Value g = cotangents.lookup(param.getResult());
      grads.push_back(g ? g : b.splat(0.0f, param.getType().getShape()));
    }
    return grads;
  }

  /// The value a train step returns for non-trainable parameter `param`:
  /// what a layer's forward pass set it to, or its value unchanged.
  Value updatedStateOr(ParamOp param, Value unchanged) {
    Value updated = updatedState.lookup(param.getResult());
    return updated ? updated : unchanged;
  }

private:
  /// The sum of two cotangents of one activation (a value read twice, as
  /// by a residual connection), added in the target's compute layout, where
  /// both usually come from layers that work in it (the layout conversions
  /// fold away).
  static Value addCotangents(LayerLowering &lowering, Value acc, Value g) {
    Value sum = lowering.b.add(lowering.enter(acc), lowering.enter(g));
    return lowering.leave(sum);
  }

  SmallVector<Value> lowered(ValueRange values) {
    return llvm::map_to_vector(values,
                               [&](Value v) { return mapping.lookup(v); });
  }

  ModelOp model;
  int64_t batch;
  SmallVector<ParamOp, 8> params;
  SmallVector<LayerOpInterface> layers;
  IRMapping mapping;
  DenseMap<Value, Value> updatedState;
};

struct NetSpecToStableHLOPass
    : lean_mlir::impl::NetSpecToStableHLOBase<NetSpecToStableHLOPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (failed(checkOptions(module)))
      return signalPassFailure();
    auto models = llvm::to_vector(module.getOps<ModelOp>());
    if (models.empty()) {
      module.emitError("netspec-to-stablehlo: no 'netspec.model' to lower");
      return signalPassFailure();
    }
    if (models.size() > 1) {
      // Function names (predict, train_step, ...) are per module.
      InFlightDiagnostic diag = models[1].emitError(
          "netspec-to-stablehlo lowers one 'netspec.model' per module; this "
          "is a second one");
      diag.attachNote(models[0].getLoc()) << "the first model";
      return signalPassFailure();
    }
    ModelOp model = models.front();
    if ((wanted("value_and_grad") || wanted("train_step")) &&
        failed(checkBatchStatistics(model)))
      return signalPassFailure();
    OpBuilder builder(model);
    for (StringRef name : kFunctions)
      if (wanted(name))
        emitFunction(builder, model, name);
    model.erase();

    // Nothing of netspec may survive: a leftover op fails here, loudly.
    ConversionTarget target(getContext());
    target.addIllegalDialect<NetSpecDialect>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    if (failed(applyPartialConversion(module, target,
                                      RewritePatternSet(&getContext()))))
      signalPassFailure();
  }

private:
  bool wanted(StringRef name) {
    return functions.empty() || llvm::is_contained(functions, name.str());
  }

  LogicalResult checkOptions(ModuleOp module) {
    auto fail = [&](const Twine &message) {
      return module.emitError("netspec-to-stablehlo: ") << message;
    };
    if (!getContext().allowsUnregisteredDialects())
      return fail("StableHLO is emitted in generic form; allow unregistered "
                  "dialects (--allow-unregistered-dialect)");
    if (batchSize <= 0)
      return fail("batch-size must be positive, got " +
                  std::to_string(batchSize.getValue()));
    for (const std::string &name : functions)
      if (!llvm::is_contained(kFunctions, name))
        return fail("unknown function '" + name +
                    "'; expected predict, eval, value_and_grad or "
                    "train_step");
    if (optimizer != "sgd" && optimizer != "adam")
      return fail("unknown optimizer '" + optimizer +
                  "'; expected sgd or adam");
    if (momentum < 0 || weightDecay < 0)
      return fail("momentum and weight-decay must be >= 0");
    if (nesterov && (optimizer != "sgd" || momentum == 0))
      return fail("nesterov needs optimizer=sgd and momentum > 0 (it is a way "
                  "to apply momentum)");
    if (!symbolizeLoweringTarget(target))
      return fail("unknown target '" + target +
                  "'; expected generic, cpu or gpu");
    if (!convWeightGradient.empty()) {
      if (convWeightGradient != "taps" && convWeightGradient != "batched-im2col")
        return fail("unknown conv-weight-gradient '" + convWeightGradient +
                    "'; expected taps or batched-im2col");
      if (!formsFor(*symbolizeLoweringTarget(target)).channelsLast)
        return fail("conv-weight-gradient chooses among the channels-last "
                    "forms (target=cpu or gpu), not target=" +
                    target);
    }
    if (labelSmoothing < 0 || labelSmoothing >= 1)
      return fail("label-smoothing must be in [0, 1), got " +
                  std::to_string(labelSmoothing.getValue()));
    return success();
  }

  OptimizerConfig optimizerConfig() {
    OptimizerConfig config;
    config.kind = optimizer == "adam" ? OptimizerConfig::Kind::Adam
                                      : OptimizerConfig::Kind::SGD;
    config.momentum =
        config.kind == OptimizerConfig::Kind::SGD ? momentum.getValue() : 0.0;
    config.nesterov = nesterov;
    config.weightDecay = weightDecay.getValue();
    return config;
  }

  /// Batch statistics need two values per channel (the running variance
  /// divides by m - 1), as in PyTorch, which refuses to train on one.
  LogicalResult checkBatchStatistics(ModelOp model) {
    for (BatchNormOp bn : model.getBody().getOps<BatchNormOp>()) {
      ArrayRef<int64_t> shape = bn.getType().getShape();
      int64_t perChannel = batchSize;
      for (int64_t d : shape.drop_front(2))
        perChannel *= d;
      if (perChannel < 2)
        return bn.emitError("netspec-to-stablehlo: batch_norm needs more "
                            "than one value per channel to train, got ")
               << perChannel << " (batch-size " << batchSize.getValue()
               << ", input "
               << bn.getInput().getType() << ")";
    }
    return success();
  }

  void emitFunction(OpBuilder &builder, ModelOp model, StringRef name) {
    MLIRContext *ctx = &getContext();
    ModelEmitter emitter(model, batchSize);
    ArrayRef<ParamOp> params = emitter.getParams();
    SmallVector<ParamOp> trainable = llvm::filter_to_vector(
        params, [](ParamOp p) { return p.isTrainable(); });
    OptimizerConfig config = optimizerConfig();
    bool train = name == "train_step";
    bool labels = name != "predict";
    unsigned numState = train ? config.numStateTensors() : 0;

    // Signature: params..., state..., x, [y], [lr, step]. Every parameter
    // comes in (and, from train_step, goes out); optimizer state and
    // gradients exist for the trainable ones only.
    SmallVector<Type> inputs;
    for (ParamOp p : params)
      inputs.push_back(p.getType());
    for (unsigned s = 0; s < numState; ++s)
      for (ParamOp p : trainable)
        inputs.push_back(p.getType());
    inputs.push_back(emitter.inputType());
    if (labels)
      inputs.push_back(emitter.labelsType());
    auto f32Scalar = RankedTensorType::get({}, Float32Type::get(ctx));
    auto i32Scalar = RankedTensorType::get({}, IntegerType::get(ctx, 32));
    if (train)
      inputs.append({f32Scalar, i32Scalar});

    auto func = func::FuncOp::create(builder, model.getLoc(), name,
                                     builder.getFunctionType(inputs, {}));
    // Every argument and result says what it is (`netspec.role`, see
    // Passes.td), so no reader works a position out by itself.
    SmallVector<std::string> argRoles;
    for (ParamOp p : params)
      argRoles.push_back(paramRole("param", p));
    for (StringRef slot : config.stateSlotNames().take_front(numState))
      for (ParamOp p : trainable)
        argRoles.push_back(stateRole(p, slot));
    argRoles.push_back("images");
    if (labels)
      argRoles.push_back("labels");
    if (train)
      argRoles.append({"learning_rate", "step"});
    for (auto [i, role] : llvm::enumerate(argRoles))
      func.setArgAttr(i, kRoleAttr, builder.getStringAttr(role));
    Block *entry = func.addEntryBlock();
    OpBuilder body = OpBuilder::atBlockBegin(entry);
    StablehloBuilder b(body, model.getLoc());
    LayerLowering lowering(b, *symbolizeLoweringTarget(target), entry);
    if (convWeightGradient == "taps")
      lowering.forms.convWeightGradient = TargetForms::WeightGradient::Taps;
    else if (convWeightGradient == "batched-im2col")
      lowering.forms.convWeightGradient =
          TargetForms::WeightGradient::BatchedIm2col;
    lowering.training = labels && name != "eval";

    ValueRange args = entry->getArguments();
    size_t n = params.size(), nt = trainable.size();
    ValueRange paramArgs = args.take_front(n);
    ValueRange stateArgs = args.slice(n, nt * numState);
    size_t next = n + nt * numState;
    Value x = args[next++];
    Value y = labels ? args[next++] : Value();

    Value logits = emitter.emitForward(lowering, paramArgs, x);
    SmallVector<Value> results;
    SmallVector<std::string> resultRoles;
    if (name == "predict") {
      results.push_back(logits);
      resultRoles.push_back("logits");
    } else if (name == "eval") {
      auto part = lowering.part("loss");
      results.push_back(emitSoftmaxCrossEntropy(b, logits, y, 0.0));
      results.push_back(emitCorrectCount(b, logits, y));
      results.push_back(emitTopKCount(b, logits, y, 5));
      resultRoles.append({"loss", "correct", "top5_correct"});
    } else {
      Value dlogits, loss;
      {
        auto part = lowering.part("loss");
        loss = emitSoftmaxCrossEntropy(b, logits, y, labelSmoothing, &dlogits);
      }
      SmallVector<Value> grads = emitter.emitBackward(lowering, dlogits);
      if (!train) {
        results.push_back(loss);
        results.append(grads);
        resultRoles.push_back("loss");
        for (ParamOp p : trainable)
          resultRoles.push_back(paramRole("grad", p));
      } else {
        lowering.setOwner(model.getLoc());
        auto part = lowering.part("optimizer");
        StepScalars scalars =
            emitStepScalars(b, config, args[next], args[next + 1]);
        // All gradients first, then one barrier over them, then the
        // updates (TargetForms::barriersGradients): the backward pass is
        // one region whose transient buffers the compiled program frees
        // through the queue.
        if (lowering.forms.barriersGradients && !grads.empty())
          grads = b.optimizationBarrier(ValueRange(grads));
        SmallVector<Value> newParams;
        SmallVector<SmallVector<Value>> newState(numState);
        size_t t = 0; // index among the trainable parameters
        for (size_t i = 0; i < n; ++i) {
          if (!ParamOp(params[i]).isTrainable()) {
            newParams.push_back(
                emitter.updatedStateOr(params[i], paramArgs[i]));
            continue;
          }
          SmallVector<Value> state, updated;
          for (unsigned s = 0; s < numState; ++s)
            state.push_back(stateArgs[s * nt + t]);
          lowering.setOwner(params[i]->getLoc());
          auto update = lowering.part("optimizer");
          newParams.push_back(emitOptimizerUpdate(
              b, config, scalars, paramArgs[i], grads[t], state, updated));
          for (unsigned s = 0; s < numState; ++s)
            newState[s].push_back(updated[s]);
          ++t;
        }
        results.append(newParams);
        for (auto &s : newState)
          results.append(s);
        results.push_back(loss);
        // The results mirror the arguments they replace.
        resultRoles.append(argRoles.begin(),
                           argRoles.begin() + n + nt * numState);
        resultRoles.push_back("loss");
      }
    }
    func::ReturnOp::create(body, model.getLoc(), results);
    func.setFunctionType(
        builder.getFunctionType(inputs, ValueRange(results).getTypes()));
    assert(resultRoles.size() == results.size() && "a result without a role");
    for (auto [i, role] : llvm::enumerate(resultRoles))
      func.setResultAttr(i, kRoleAttr, builder.getStringAttr(role));
    eraseUnusedTransposes(*entry);
  }

  /// Layer rules convert layouts at their boundaries; where neighbouring
  /// layers' conversions cancel (see StablehloBuilder::transpose) the first
  /// one is left without users. Walking backwards frees chains of them.
  static void eraseUnusedTransposes(Block &block) {
    for (Operation &op : llvm::make_early_inc_range(llvm::reverse(block)))
      if (op.getName().getStringRef() == "stablehlo.transpose" &&
          op.use_empty())
        op.erase();
  }
};

} // namespace
