//===- NetSpecDialect.td - netspec dialect definition -------*- tablegen -*-===//
//
// Part of lean-mlir. The `netspec` dialect describes a neural network as a
// data-first op graph: one `netspec.model` holding its input, its named
// parameters and its layers.
//
//===----------------------------------------------------------------------===//

#ifndef LEAN_MLIR_DIALECT_NETSPEC_NETSPECDIALECT_TD
#define LEAN_MLIR_DIALECT_NETSPEC_NETSPECDIALECT_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

def NetSpec_Dialect : Dialect {
  let name = "netspec";
  let cppNamespace = "::lean_mlir::netspec";
  let summary = "A network as a graph of layers with named parameters.";
  let description = [{
    The `netspec` dialect is the first IR of lean-mlir. A network is one
    `netspec.model` symbol whose single block holds, in order of use:

    * one `netspec.input` giving the per-sample input shape (the batch
      dimension is `?`; it is fixed when the model is lowered),
    * `netspec.param` ops, one per parameter tensor, each with a stable name
      (`conv2d_0.weight`), a static shape and an init scheme; those marked
      `non_trainable` (batch norm's running statistics) are updated by their
      layer's forward pass, not by the optimizer,
    * layer ops, each implementing `LayerOpInterface` (its forward lowering
      and its VJP, in lib/Dialect/NetSpec/Rules/), result types inferred:
      `netspec.conv2d`, `netspec.max_pool2d`, `netspec.avg_pool2d`,
      `netspec.flatten`, `netspec.dense`, `netspec.relu`,
      `netspec.batch_norm`, `netspec.global_avg_pool`, `netspec.layer_norm`,
      `netspec.layer_scale`, `netspec.squeeze_excite`, `netspec.add` (a
      residual sum), and the transformer's `netspec.tokens`,
      `netspec.class_token`, `netspec.position_embedding`,
      `netspec.attention` and `netspec.take_token`,
    * a `netspec.output` terminator returning the logits.

    Activations are NCHW (or `[N, C]` features, or `[N, T, C]` token
    sequences), convolution weights OIHW, dense weights
    `[in_features, out_features]`.
  }];
  let useDefaultAttributePrinterParser = 1;
}

//===----------------------------------------------------------------------===//
// Enums
//===----------------------------------------------------------------------===//

def NetSpec_PaddingKind : I32Enum<"Padding", "convolution padding mode", [
  I32EnumCase<"Same", 0, "same">,
  I32EnumCase<"Valid", 1, "valid">,
  // The op's `pads` say how many zeros go on each side (PyTorch's padding=1).
  I32EnumCase<"Explicit", 2, "explicit">
]> {
  let cppNamespace = "::lean_mlir::netspec";
}
def NetSpec_PaddingAttr : EnumAttr<NetSpec_Dialect, NetSpec_PaddingKind, "padding"> {
  let assemblyFormat = "`<` $value `>`";
}

// What a layer applies to its result; the forms and VJPs are in
// lib/Dialect/NetSpec/Rules/Activation.h (gelu is the exact, erf form).
def NetSpec_ActivationKind : I32Enum<"Activation", "layer activation", [
  I32EnumCase<"Identity", 0, "identity">,
  I32EnumCase<"Relu", 1, "relu">,
  I32EnumCase<"Relu6", 2, "relu6">,
  I32EnumCase<"Silu", 3, "silu">,
  I32EnumCase<"Gelu", 4, "gelu">,
  I32EnumCase<"Sigmoid", 5, "sigmoid">,
  I32EnumCase<"Tanh", 6, "tanh">,
  // gelu's tanh approximation (PyTorch's approximate="tanh").
  I32EnumCase<"GeluTanh", 7, "gelu_tanh">,
  // MobileNetV3's: z * relu6(z + 3) / 6 and relu6(z + 3) / 6.
  I32EnumCase<"Hardswish", 8, "hardswish">,
  I32EnumCase<"Hardsigmoid", 9, "hardsigmoid">
]> {
  let cppNamespace = "::lean_mlir::netspec";
}
def NetSpec_ActivationAttr
    : EnumAttr<NetSpec_Dialect, NetSpec_ActivationKind, "activation"> {
  let assemblyFormat = "`<` $value `>`";
}

def NetSpec_InitKind : I32Enum<"Init", "parameter initialisation scheme", [
  I32EnumCase<"HeNormal", 0, "he_normal">,
  I32EnumCase<"HeUniform", 1, "he_uniform">,
  I32EnumCase<"GlorotUniform", 2, "glorot_uniform">,
  I32EnumCase<"Zeros", 3, "zeros">,
  I32EnumCase<"Ones", 4, "ones">,
  // Every entry 1e-6: ConvNeXt's layer scale starts so.
  I32EnumCase<"LayerScale", 5, "layer_scale">,
  // N(0, 0.02^2): a vision transformer's linear weights and embeddings, as
  // timm's.
  I32EnumCase<"SmallNormal", 6, "small_normal">
]> {
  let cppNamespace = "::lean_mlir::netspec";
}
def NetSpec_InitAttr : EnumAttr<NetSpec_Dialect, NetSpec_InitKind, "init"> {
  let assemblyFormat = "`<` $value `>`";
}

#endif // LEAN_MLIR_DIALECT_NETSPEC_NETSPECDIALECT_TD
