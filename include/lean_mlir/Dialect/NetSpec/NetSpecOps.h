//===- NetSpecOps.h - netspec operations ------------------------*- C++ -*-===//
//
// Part of lean-mlir.
//
//===----------------------------------------------------------------------===//

#ifndef LEAN_MLIR_DIALECT_NETSPEC_NETSPECOPS_H
#define LEAN_MLIR_DIALECT_NETSPEC_NETSPECOPS_H

#include "lean_mlir/Dialect/NetSpec/NetSpecDialect.h"
#include "lean_mlir/Dialect/NetSpec/NetSpecInterfaces.h"

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "lean_mlir/Dialect/NetSpec/NetSpecEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "lean_mlir/Dialect/NetSpec/NetSpecAttrs.h.inc"

namespace lean_mlir::netspec {
class InputOp;
class OutputOp;
class ParamOp;
} // namespace lean_mlir::netspec

#define GET_OP_CLASSES
#include "lean_mlir/Dialect/NetSpec/NetSpecOps.h.inc"

#endif // LEAN_MLIR_DIALECT_NETSPEC_NETSPECOPS_H
