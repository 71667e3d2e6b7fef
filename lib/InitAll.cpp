//===- InitAll.cpp - register everything lean-mlir provides ---------------===//
//
// Part of lean-mlir.
//
//===----------------------------------------------------------------------===//

#include "lean_mlir/InitAll.h"

#include "lean_mlir/Dialect/NetSpec/NetSpecDialect.h"
#include "lean_mlir/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/DialectRegistry.h"

void lean_mlir::registerAllDialects(mlir::DialectRegistry &registry) {
  registry.insert<netspec::NetSpecDialect, mlir::func::FuncDialect>();
}

void lean_mlir::registerAllPasses() {
  // The generated registration adds to a global registry; guard it so the
  // plugin, the tool and the Python extension may all call this freely.
  static bool registered = [] {
    registerLeanMlirPasses();
    registerLeanMlirPipelines();
    return true;
  }();
  (void)registered;
}
