//===- Passes.td - lean-mlir pass definitions ---------------*- tablegen -*-===//
//
// Part of lean-mlir. Every pass of the project is declared here; its
// registration, its option parsing and its documentation are generated.
//
//===----------------------------------------------------------------------===//

#ifndef LEAN_MLIR_TRANSFORMS_PASSES_TD
#define LEAN_MLIR_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def NetSpecModelSummary : Pass<"netspec-model-summary", "::mlir::ModuleOp"> {
  let summary = "Annotate each netspec model with its parameter count and "
                "each layer with its output shape, parameters and FLOPs";
  let description = [{
    An analysis that writes what it finds as discardable attributes, so the
    result can be read by FileCheck, by Python or by a later pass:

    * on each `netspec.model`: `netspec.param_count` (scalars over all
      parameters) and `netspec.flops_per_sample` (forward pass);
    * on each layer: `netspec.output_shape` (per-sample shape of its result,
      batch left out), `netspec.param_count` (scalars in the parameters it
      reads) and `netspec.flops_per_sample`.

    With `emit-remarks`, it also emits one remark per layer and one per model,
    which makes a readable table on stderr.

    Before:

    ```mlir
    netspec.model @tiny {
      %x = netspec.input : tensor<?x4xf32>
      %w = netspec.param "dense_0.weight" init(he_normal) : tensor<4x2xf32>
      %b = netspec.param "dense_0.bias" init(zeros) : tensor<2xf32>
      %y = netspec.dense %x, %w, %b activation(identity)
          : tensor<?x4xf32>, tensor<4x2xf32>, tensor<2xf32>
      netspec.output %y : tensor<?x2xf32>
    }
    ```

    After:

    ```mlir
    netspec.model @tiny attributes {netspec.flops_per_sample = 16 : i64,
                                    netspec.param_count = 10 : i64} {
      ...
      %y = netspec.dense %x, %w, %b activation(identity)
          {netspec.flops_per_sample = 16 : i64,
           netspec.output_shape = array<i64: 2>, netspec.param_count = 10 : i64}
          : tensor<?x4xf32>, tensor<4x2xf32>, tensor<2xf32>
      ...
    }
    ```
  }];
  let options = [
    Option<"emitRemarks", "emit-remarks", "bool", /*default=*/"false",
           "Also report each layer and model as a remark">,
  ];
}

#endif // LEAN_MLIR_TRANSFORMS_PASSES_TD
