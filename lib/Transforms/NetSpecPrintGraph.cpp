//===- NetSpecPrintGraph.cpp - a netspec model as a Graphviz graph --------===//
//
// Part of lean-mlir.
//
//===----------------------------------------------------------------------===//

#include "lean_mlir/Dialect/NetSpec/NetSpecOps.h"
#include "lean_mlir/Transforms/Passes.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/raw_ostream.h"

namespace lean_mlir {
#define GEN_PASS_DEF_NETSPECPRINTGRAPH
#include "lean_mlir/Transforms/Passes.h.inc"
} // namespace lean_mlir

using namespace mlir;
using namespace lean_mlir;
using namespace lean_mlir::netspec;

namespace {

/// `text` as a DOT string literal; a newline becomes DOT's centred line break.
std::string quote(llvm::StringRef text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    if (c == '"' || c == '\\')
      out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string sampleShape(Value v) {
  auto shape = cast<RankedTensorType>(v.getType()).getShape().drop_front();
  return llvm::join(
      llvm::map_range(shape, [](int64_t d) { return std::to_string(d); }), "x");
}

/// The name a user gave the layer (its location's name) over its op's name, or
/// the op's name alone.
std::string layerTitle(Operation *op) {
  std::string kind = op->getName().stripDialect().str();
  if (auto name = dyn_cast<NameLoc>(op->getLoc()))
    return name.getName().str() + "\n" + kind;
  return kind;
}

struct NetSpecPrintGraphPass
    : lean_mlir::impl::NetSpecPrintGraphBase<NetSpecPrintGraphPass> {
  using Base::Base;

  void runOnOperation() override {
    llvm::raw_ostream &os = llvm::errs();
    for (ModelOp model : getOperation().getOps<ModelOp>()) {
      os << "digraph " << quote(model.getSymName()) << " {\n"
         << "  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n"
         << "  edge [fontname=\"Helvetica\", fontsize=9];\n";
      llvm::DenseMap<Value, std::string> nodes;
      Value input = model.getInputOp().getResult();
      nodes[input] = "input";
      os << "  input [shape=ellipse, label=" << quote("input\n" + sampleShape(input))
         << "];\n";
      int64_t next = 0;
      model.getBody().walk([&](LayerOpInterface layer) {
        std::string id = "layer" + std::to_string(next++);
        Value out = layer.getLayerOutput();
        int64_t params = 0;
        for (Value operand : layer->getOperands())
          if (auto param = operand.getDefiningOp<ParamOp>())
            if (param.isTrainable())
              params += param.getNumElements();
        std::string label = layerTitle(layer) + "\n" + sampleShape(out) + "\n" +
                            std::to_string(params) + " params";
        os << "  " << id << " [label=" << quote(label) << "];\n";
        for (Value operand : layer->getOperands())
          if (auto it = nodes.find(operand); it != nodes.end())
            os << "  " << it->second << " -> " << id
               << " [label=" << quote(sampleShape(operand)) << "];\n";
        nodes[out] = id;
      });
      Value logits = model.getOutputOp().getLogits();
      os << "  output [shape=ellipse, label="
         << quote("output\n" + sampleShape(logits)) << "];\n";
      if (auto it = nodes.find(logits); it != nodes.end())
        os << "  " << it->second << " -> output;\n";
      os << "}\n";
    }
    markAllAnalysesPreserved();
  }
};

} // namespace
