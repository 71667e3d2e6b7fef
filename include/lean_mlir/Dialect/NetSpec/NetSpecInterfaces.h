//===- NetSpecInterfaces.h - netspec op interfaces --------------*- C++ -*-===//
//
// Part of lean-mlir.
//
//===----------------------------------------------------------------------===//

#ifndef LEAN_MLIR_DIALECT_NETSPEC_NETSPECINTERFACES_H
#define LEAN_MLIR_DIALECT_NETSPEC_NETSPECINTERFACES_H

#include "mlir/IR/OpDefinition.h"

#include "lean_mlir/Dialect/NetSpec/Lowering.h"

#include "lean_mlir/Dialect/NetSpec/NetSpecInterfaces.h.inc"

#endif // LEAN_MLIR_DIALECT_NETSPEC_NETSPECINTERFACES_H
