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
      trainable parameters; running statistics are not counted) and
      `netspec.flops_per_sample` (forward pass);
    * on each layer: `netspec.output_shape` (per-sample shape of its result,
      batch left out), `netspec.param_count` (scalars in the trainable
      parameters it reads) and `netspec.flops_per_sample`.

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

def NetSpecPrintGraph : Pass<"netspec-print-graph", "::mlir::ModuleOp"> {
  let summary = "Print each netspec model as a Graphviz graph of its layers";
  let description = [{
    Writes one DOT `digraph` per `netspec.model` to stderr (as MLIR's own
    `--view-op-graph` does), the module unchanged: the input, one node per
    layer op (its location's name where it has one, its op, its output shape
    and the trainable parameters it reads) and the output, with an edge per
    activation an op reads, labelled with its shape; a residual `add` reads
    two. `--view-op-graph` draws any IR, every op and value of it (StableHLO
    included); this pass draws only the network's layers.

        lean-mlir-opt model.mlir --netspec-print-graph -o /dev/null 2> model.dot
        dot -Tsvg model.dot -o model.svg
  }];
}

def NetSpecToStableHLO : Pass<"netspec-to-stablehlo", "::mlir::ModuleOp"> {
  let summary = "Lower a netspec model to StableHLO functions: inference, "
                "evaluation, gradients and one fused train step";
  let description = [{
    Replaces the module's `netspec.model` by `func.func`s over StableHLO
    (emitted in generic form; run with `--allow-unregistered-dialect`). The
    batch is fixed to `batch-size`. Parameters come first in every
    signature, in the order of the model's `netspec.param` ops, then
    optimizer state (every trainable parameter's first state tensor, then
    every trainable parameter's second), then the data:

    * `predict(params..., x) -> logits`
    * `eval(params..., x, y) -> (mean loss, number correct : i32,
       number with the true class in the top five : i32)`
    * `value_and_grad(params..., x, y) -> (mean loss, grads...)`, one
      gradient per trainable parameter
    * `train_step(params..., state..., x, y, lr : f32, step : i32)
       -> (params'..., state'..., loss)`: trainable parameters updated by
       the optimizer, non-trainable ones (batch norm's running statistics)
       as their layers updated them

    Readers never count positions: every argument and result carries
    `netspec.role`, a string that says what it is:

    | role | what |
    |---|---|
    | `param:<name>` | a parameter (argument), or its new value (train_step result) |
    | `state:<name>:<slot>` | an optimizer-state tensor of parameter `<name>`; slots `velocity` (SGD with momentum), `m` and `v` (Adam) |
    | `images`, `labels` | `x` and `y` |
    | `learning_rate`, `step` | the train step's scalars |
    | `logits`, `loss`, `correct`, `top5_correct` | results |
    | `grad:<name>` | the gradient of trainable parameter `<name>` |

    A train step's `param:` and `state:` results replace the arguments of
    the same role, which is what lets a runtime donate those buffers.

    `value_and_grad` and `train_step` train: batch norm uses the batch's
    statistics (and needs more than one value per channel: a diagnostic
    at the layer otherwise); `predict` and `eval` use the running ones.

    `x` is `[batch, *input_shape]` f32, `y` `[batch]` i32 labels. The
    loss is the mean softmax cross-entropy, with `label-smoothing` in
    `value_and_grad` and `train_step`. The backward pass walks the layers in
    reverse, calling each layer's VJP (LayerOpInterface::emitVJP) and adding
    cotangents where a value is used twice. `train_step` updates with SGD
    (`momentum`, `weight-decay`: `g += wd p; v = mu v + g; p -= lr v`) or
    Adam (`optimizer=adam`, decoupled weight decay). `lr` and `step` are
    inputs, so schedules never recompile.

    `target` picks the StableHLO forms, never the layouts in the
    signatures (activations NCHW, conv weights OIHW, dense weights
    `[in, out]`); what each target decides is one table, `TargetForms` in
    lib/Dialect/NetSpec/Lowering.cpp. `generic` emits each convolution and
    its gradients as one NCHW `stablehlo.convolution` and the max-pool
    backward as per-offset masks. `cpu` emits the forms IREE's CPU backend
    runs fast (measured at the book's CNN shapes; see
    lib/Dialect/NetSpec/Rules/): NHWC activations inside the function (one
    transpose at its input and one at the flatten), HWIO filters built once
    at the start of the function behind `stablehlo.optimization_barrier`,
    the weight gradient as one `dot_general` per kernel tap, a one-channel
    convolution as broadcast multiply-adds, the non-overlapping max-pool
    backward as one first-maximum select on a `[N, Ho, k, Wo, k, C]` view,
    and all gradients behind one barrier before the optimizer updates.
    `gpu` emits the cpu forms with the long contractions split (the weight
    gradient batched over N, long dense inputs in chunks). On every target
    a sum over many terms (batch norm's statistics and gradients, bias
    gradients, the batch mean of the loss) is a chain of reductions over
    one dimension each, so its float32 error grows with the stages'
    lengths added (28 + 28 + 128 at 28x28, batch 128), not with N*H*W. All give the same numbers to float32 rounding, ties routed to
    the first maximum alike.

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

    After `--netspec-to-stablehlo="batch-size=8 functions=predict"`:

    ```mlir
    func.func @predict(%w: tensor<4x2xf32> {netspec.param = "dense_0.weight"},
                       %b: tensor<2xf32> {netspec.param = "dense_0.bias"},
                       %x: tensor<8x4xf32>) -> tensor<8x2xf32> {
      %0 = "stablehlo.dot_general"(%x, %w) {dot_dimension_numbers =
          #stablehlo.dot<lhs_contracting_dimensions = [1],
                         rhs_contracting_dimensions = [0]>}
          : (tensor<8x4xf32>, tensor<4x2xf32>) -> tensor<8x2xf32>
      %1 = "stablehlo.broadcast_in_dim"(%b) {broadcast_dimensions = array<i64: 1>}
          : (tensor<2xf32>) -> tensor<8x2xf32>
      %2 = "stablehlo.add"(%0, %1) : (tensor<8x2xf32>, tensor<8x2xf32>) -> tensor<8x2xf32>
      return %2 : tensor<8x2xf32>
    }
    ```
  }];
  let options = [
    Option<"batchSize", "batch-size", "int64_t", /*default=*/"128",
           "Static batch size of every function">,
    ListOption<"functions", "functions", "std::string",
               "Functions to emit: predict, eval, value_and_grad, train_step "
               "(default: all)">,
    Option<"optimizer", "optimizer", "std::string", /*default=*/"\"sgd\"",
           "train_step optimizer: sgd or adam">,
    Option<"momentum", "momentum", "double", /*default=*/"0.0",
           "SGD heavy-ball momentum (0: plain SGD, no state)">,
    Option<"nesterov", "nesterov", "bool", /*default=*/"false",
           "SGD with Nesterov momentum (PyTorch's: p -= lr * (g + momentum * v)); "
           "needs momentum > 0">,
    Option<"weightDecay", "weight-decay", "double", /*default=*/"0.0",
           "Weight decay applied to every trainable parameter">,
    Option<"labelSmoothing", "label-smoothing", "double", /*default=*/"0.0",
           "Label smoothing of the training loss, in [0, 1)">,
    Option<"target", "target", "std::string", /*default=*/"\"generic\"",
           "Which StableHLO forms the layers lower to: generic (NCHW "
           "convolutions, as the book writes them), cpu (the forms IREE's "
           "llvm-cpu backend runs fast) or gpu (the cpu forms with long "
           "contractions split, for IREE's CUDA backend)">,
    Option<"convWeightGradient", "conv-weight-gradient", "std::string",
           /*default=*/"\"\"",
           "How the channels-last forms (cpu, gpu) take a convolution's "
           "weight gradient, in place of the target's choice: taps (one "
           "product per kernel tap) or batched-im2col (one product of each "
           "sample's im2col rows, batched over N, then summed); empty: the "
           "target's. lean-mlir tune picks it by measurement">,
  ];
  let dependentDialects = ["::mlir::func::FuncDialect"];
}

#endif // LEAN_MLIR_TRANSFORMS_PASSES_TD
