//===- NetSpecDialect.cpp - netspec dialect -------------------------------===//
//
// Part of lean-mlir.
//
//===----------------------------------------------------------------------===//

#include "lean_mlir/Dialect/NetSpec/NetSpecDialect.h"
#include "lean_mlir/Dialect/NetSpec/NetSpecOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace lean_mlir::netspec;

#include "lean_mlir/Dialect/NetSpec/NetSpecOpsDialect.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "lean_mlir/Dialect/NetSpec/NetSpecAttrs.cpp.inc"

void NetSpecDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "lean_mlir/Dialect/NetSpec/NetSpecOps.cpp.inc"
      >();
  addAttributes<
#define GET_ATTRDEF_LIST
#include "lean_mlir/Dialect/NetSpec/NetSpecAttrs.cpp.inc"
      >();
}
