//===- NetSpecDialect.h - netspec dialect -----------------------*- C++ -*-===//
//
// Part of lean-mlir.
//
//===----------------------------------------------------------------------===//

#ifndef LEAN_MLIR_DIALECT_NETSPEC_NETSPECDIALECT_H
#define LEAN_MLIR_DIALECT_NETSPEC_NETSPECDIALECT_H

#include "mlir/IR/Dialect.h"

#include "lean_mlir/Dialect/NetSpec/NetSpecOpsDialect.h.inc"

#endif // LEAN_MLIR_DIALECT_NETSPEC_NETSPECDIALECT_H
