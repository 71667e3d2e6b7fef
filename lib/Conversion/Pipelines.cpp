//===- Pipelines.cpp - named lowering pipelines ---------------------------===//
//
// Part of lean-mlir. Short names for netspec-to-stablehlo with its
// `functions` option fixed, for use from lean-mlir-opt and lit tests (the
// Python runtime runs netspec-to-stablehlo itself, with every option
// spelled out, and prints that pipeline in its reproducers):
//
//   netspec-forward{batch-size=N target=generic|cpu|gpu} predict
//   netspec-eval{batch-size=N}        eval
//   netspec-train-step{batch-size=N optimizer=... momentum=... ...}
//                                      value_and_grad and train_step
//
//===----------------------------------------------------------------------===//

#include "lean_mlir/Transforms/Passes.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"
#include "mlir/Pass/PassRegistry.h"

using namespace mlir;

namespace {
struct BatchOptions : PassPipelineOptions<BatchOptions> {
  Option<int64_t> batchSize{*this, "batch-size",
                            llvm::cl::desc("Static batch size"),
                            llvm::cl::init(128)};
  Option<std::string> target{
      *this, "target", llvm::cl::desc("generic, cpu or gpu StableHLO forms"),
      llvm::cl::init("generic")};
};

struct TrainOptions : PassPipelineOptions<TrainOptions> {
  Option<int64_t> batchSize{*this, "batch-size",
                            llvm::cl::desc("Static batch size"),
                            llvm::cl::init(128)};
  Option<std::string> optimizer{*this, "optimizer",
                                llvm::cl::desc("sgd or adam"),
                                llvm::cl::init("sgd")};
  Option<double> momentum{*this, "momentum",
                          llvm::cl::desc("SGD momentum"), llvm::cl::init(0.0)};
  Option<bool> nesterov{*this, "nesterov",
                        llvm::cl::desc("SGD with Nesterov momentum"),
                        llvm::cl::init(false)};
  Option<double> weightDecay{*this, "weight-decay",
                             llvm::cl::desc("Weight decay"),
                             llvm::cl::init(0.0)};
  Option<double> labelSmoothing{*this, "label-smoothing",
                                llvm::cl::desc("Label smoothing"),
                                llvm::cl::init(0.0)};
  Option<std::string> target{
      *this, "target", llvm::cl::desc("generic, cpu or gpu StableHLO forms"),
      llvm::cl::init("generic")};
};

void addLowering(OpPassManager &pm, int64_t batch, StringRef target,
                 ArrayRef<std::string> functions,
                 const TrainOptions *train = nullptr) {
  lean_mlir::NetSpecToStableHLOOptions options;
  options.batchSize = batch;
  options.target = target.str();
  options.functions.assign(functions.begin(), functions.end());
  if (train) {
    options.optimizer = train->optimizer;
    options.momentum = train->momentum;
    options.nesterov = train->nesterov;
    options.weightDecay = train->weightDecay;
    options.labelSmoothing = train->labelSmoothing;
  }
  pm.addPass(lean_mlir::createNetSpecToStableHLO(options));
}
} // namespace

void lean_mlir::registerLeanMlirPipelines() {
  PassPipelineRegistration<BatchOptions>(
      "netspec-forward", "Lower a netspec model to predict(params, x)",
      [](OpPassManager &pm, const BatchOptions &o) {
        addLowering(pm, o.batchSize, o.target, {"predict"});
      });
  PassPipelineRegistration<BatchOptions>(
      "netspec-eval",
      "Lower a netspec model to eval(params, x, y) -> (loss, correct, "
      "top5_correct)",
      [](OpPassManager &pm, const BatchOptions &o) {
        addLowering(pm, o.batchSize, o.target, {"eval"});
      });
  PassPipelineRegistration<TrainOptions>(
      "netspec-train-step",
      "Lower a netspec model to value_and_grad and the fused train_step",
      [](OpPassManager &pm, const TrainOptions &o) {
        addLowering(pm, o.batchSize, o.target, {"value_and_grad", "train_step"},
                    &o);
      });
}
