//===- InitAll.h - register everything lean-mlir provides -------*- C++ -*-===//
//
// Part of lean-mlir. One place that lists the dialects and passes every
// entry point (lean-mlir-opt, the mlir-opt plugin, the Python extension)
// registers, so the three never disagree.
//
//===----------------------------------------------------------------------===//

#ifndef LEAN_MLIR_INITALL_H
#define LEAN_MLIR_INITALL_H

namespace mlir {
class DialectRegistry;
} // namespace mlir

namespace lean_mlir {

/// Adds the netspec dialect and the upstream dialects our passes produce.
void registerAllDialects(mlir::DialectRegistry &registry);

/// Registers every lean-mlir pass with the global pass registry (idempotent).
void registerAllPasses();

} // namespace lean_mlir

#endif // LEAN_MLIR_INITALL_H
