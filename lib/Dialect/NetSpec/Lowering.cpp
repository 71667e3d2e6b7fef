//===- Lowering.cpp - lowering targets of the layer rules -----------------===//
//
// Part of lean-mlir.
//
//===----------------------------------------------------------------------===//

#include "lean_mlir/Dialect/NetSpec/Lowering.h"

#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/ErrorHandling.h"

using namespace lean_mlir::netspec;

llvm::StringRef lean_mlir::netspec::stringifyLoweringTarget(
    LoweringTarget target) {
  switch (target) {
  case LoweringTarget::Generic:
    return "generic";
  case LoweringTarget::Cpu:
    return "cpu";
  case LoweringTarget::Gpu:
    return "gpu";
  }
  llvm_unreachable("unknown lowering target");
}

std::optional<LoweringTarget>
lean_mlir::netspec::symbolizeLoweringTarget(llvm::StringRef name) {
  return llvm::StringSwitch<std::optional<LoweringTarget>>(name)
      .Case("generic", LoweringTarget::Generic)
      .Case("cpu", LoweringTarget::Cpu)
      .Case("gpu", LoweringTarget::Gpu)
      .Default(std::nullopt);
}
