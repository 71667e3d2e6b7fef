//===- NetSpecModelSummary.cpp - parameter counts and shapes --------------===//
//
// Part of lean-mlir.
//
//===----------------------------------------------------------------------===//

#include "lean_mlir/Dialect/NetSpec/NetSpecOps.h"
#include "lean_mlir/Transforms/Passes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"

namespace lean_mlir {
#define GEN_PASS_DEF_NETSPECMODELSUMMARY
#include "lean_mlir/Transforms/Passes.h.inc"
} // namespace lean_mlir

using namespace mlir;
using namespace lean_mlir;
using namespace lean_mlir::netspec;

namespace {

std::string formatShape(ArrayRef<int64_t> shape) {
  return llvm::join(llvm::map_range(shape,
                                    [](int64_t d) { return std::to_string(d); }),
                    "x");
}

struct NetSpecModelSummaryPass
    : lean_mlir::impl::NetSpecModelSummaryBase<NetSpecModelSummaryPass> {
  using Base::Base;

  void runOnOperation() override {
    Builder b(&getContext());
    for (ModelOp model : getOperation().getOps<ModelOp>()) {
      int64_t modelFlops = 0;
      model.getBody().walk([&](LayerOpInterface layer) {
        auto type = cast<RankedTensorType>(layer.getLayerOutput().getType());
        // A layer's parameters are exactly its operands defined by params;
        // the layer input is operand 0 and never a parameter. Running
        // statistics (non-trainable) are not counted, as in the model total.
        int64_t params = 0;
        for (Value operand : layer->getOperands())
          if (auto param = operand.getDefiningOp<ParamOp>())
            if (param.isTrainable())
              params += param.getNumElements();
        int64_t flops = layer.getForwardFlopsPerSample();
        modelFlops += flops;
        ArrayRef<int64_t> sampleShape = type.getShape().drop_front();
        layer->setAttr("netspec.output_shape",
                       b.getDenseI64ArrayAttr(sampleShape));
        layer->setAttr("netspec.param_count", b.getI64IntegerAttr(params));
        layer->setAttr("netspec.flops_per_sample", b.getI64IntegerAttr(flops));
        if (emitRemarks)
          layer->emitRemark(llvm::formatv(
              "{0,-12} output {1,-12} params {2,10}  flops/sample {3,12}",
              layer->getName().stripDialect(), formatShape(sampleShape), params,
              flops));
      });
      int64_t total = model.getParamCount();
      model->setAttr("netspec.param_count", b.getI64IntegerAttr(total));
      model->setAttr("netspec.flops_per_sample",
                     b.getI64IntegerAttr(modelFlops));
      if (emitRemarks)
        model->emitRemark(llvm::formatv(
            "model @{0}: {1} parameters in {2} tensors, {3} flops/sample",
            model.getSymName(), total, model.getParams().size(), modelFlops));
    }
  }
};

} // namespace
