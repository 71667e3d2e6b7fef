//===- NetSpecPlugin.cpp - netspec as an mlir-opt plugin ------------------===//
//
// Part of lean-mlir. Loaded by the stock tool:
//
//   mlir-opt-22 --load-dialect-plugin=NetSpecPlugin.so \
//               --load-pass-plugin=NetSpecPlugin.so --netspec-model-summary
//
// The plugin links the shared libMLIR.so that mlir-opt-22 itself uses, so the
// dialect and passes register into the host's registries.
//
//===----------------------------------------------------------------------===//

#include "lean_mlir/InitAll.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/Plugins/DialectPlugin.h"
#include "mlir/Tools/Plugins/PassPlugin.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/Support/Compiler.h"

extern "C" LLVM_ATTRIBUTE_WEAK mlir::DialectPluginLibraryInfo
mlirGetDialectPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "NetSpec", LLVM_VERSION_STRING,
          [](mlir::DialectRegistry *registry) {
            lean_mlir::registerAllDialects(*registry);
          }};
}

extern "C" LLVM_ATTRIBUTE_WEAK mlir::PassPluginLibraryInfo
mlirGetPassPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "NetSpecPasses", LLVM_VERSION_STRING,
          []() { lean_mlir::registerAllPasses(); }};
}
