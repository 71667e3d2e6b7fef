//===- lean-mlir-opt.cpp - lean-mlir optimizer driver ---------------------===//
//
// Part of lean-mlir. An mlir-opt with the netspec dialect and the lean-mlir
// passes registered, plus MLIR's builtin transformation passes (canonicalize,
// cse, ...).
//
//===----------------------------------------------------------------------===//

#include "lean_mlir/InitAll.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

int main(int argc, char **argv) {
  mlir::registerTransformsPasses();
  lean_mlir::registerAllPasses();

  mlir::DialectRegistry registry;
  lean_mlir::registerAllDialects(registry);

  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "lean-mlir optimizer driver\n", registry));
}
