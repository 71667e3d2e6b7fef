//===- Passes.h - lean-mlir passes ------------------------------*- C++ -*-===//
//
// Part of lean-mlir.
//
//===----------------------------------------------------------------------===//

#ifndef LEAN_MLIR_TRANSFORMS_PASSES_H
#define LEAN_MLIR_TRANSFORMS_PASSES_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/Pass.h"

namespace lean_mlir {

#define GEN_PASS_DECL
#include "lean_mlir/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "lean_mlir/Transforms/Passes.h.inc"

/// Registers the named pipelines netspec-forward, netspec-eval and
/// netspec-train-step (see lib/Conversion/Pipelines.cpp).
void registerLeanMlirPipelines();

} // namespace lean_mlir

#endif // LEAN_MLIR_TRANSFORMS_PASSES_H
