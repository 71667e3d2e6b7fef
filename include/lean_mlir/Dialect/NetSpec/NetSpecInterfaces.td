//===- NetSpecInterfaces.td - netspec op interfaces ---------*- tablegen -*-===//
//
// Part of lean-mlir.
//
//===----------------------------------------------------------------------===//

#ifndef LEAN_MLIR_DIALECT_NETSPEC_NETSPECINTERFACES_TD
#define LEAN_MLIR_DIALECT_NETSPEC_NETSPECINTERFACES_TD

include "mlir/IR/OpBase.td"

def NetSpec_LayerOpInterface : OpInterface<"LayerOpInterface"> {
  let cppNamespace = "::lean_mlir::netspec";
  let description = [{
    Implemented by every netspec layer: an op that maps one activation
    tensor (operand 0) to another (result 0), possibly reading parameters.
    Passes that reason about a model as a sequence of layers (summaries,
    lowering, differentiation) go through this interface instead of
    switching on op names.
  }];
  let methods = [
    InterfaceMethod<
      "The activation this layer consumes.",
      "::mlir::Value", "getLayerInput", (ins), [{}],
      [{ return $_op->getOperand(0); }]>,
    InterfaceMethod<
      "The activation this layer produces.",
      "::mlir::Value", "getLayerOutput", (ins), [{}],
      [{ return $_op->getResult(0); }]>,
    InterfaceMethod<
      "Floating-point operations of the forward pass for one sample "
      "(a multiply-add counts as two).",
      "int64_t", "getForwardFlopsPerSample", (ins)>,
  ];
}

#endif // LEAN_MLIR_DIALECT_NETSPEC_NETSPECINTERFACES_TD
