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
    Implemented by every netspec layer: an op that maps an activation
    tensor (operand 0; `netspec.add` reads a second one) to another
    (result 0), possibly reading parameters.
    Passes that reason about a model as a sequence of layers (summaries,
    lowering, differentiation) go through this interface instead of
    switching on op names. Each layer's forward lowering and its gradient
    rule (VJP) are implemented side by side in
    lib/Dialect/NetSpec/Rules/<Layer>.cpp.
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
    InterfaceMethod<
      [{Emits the forward computation in StableHLO and returns its result.
        `operands` are the lowered values of this op's operands, in order,
        with static shapes (the batch fixed), in the layouts of the op's
        types; `lowering` says which StableHLO forms to emit (see
        lean_mlir/Dialect/NetSpec/Lowering.h).}],
      "::mlir::Value", "emitForward",
      (ins "::lean_mlir::netspec::LayerLowering &":$lowering,
           "::mlir::ValueRange":$operands)>,
    InterfaceMethod<
      [{Emits the vector-Jacobian product: given the lowered `operands`,
        the lowered forward `result` and the cotangent `resultGrad` of that
        result, sets `operandGrads[i]` to the cotangent of operand `i`
        (null where there is none). The cotangent of operand 0 (the layer
        input) is computed only if `needInputGrad`.}],
      "void", "emitVJP",
      (ins "::lean_mlir::netspec::LayerLowering &":$lowering,
           "::mlir::ValueRange":$operands, "::mlir::Value":$result,
           "::mlir::Value":$resultGrad, "bool":$needInputGrad,
           "::llvm::SmallVectorImpl<::mlir::Value> &":$operandGrads)>,
  ];
}

#endif // LEAN_MLIR_DIALECT_NETSPEC_NETSPECINTERFACES_TD
