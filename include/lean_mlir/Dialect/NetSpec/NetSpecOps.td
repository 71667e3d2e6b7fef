//===- NetSpecOps.td - netspec operations -------------------*- tablegen -*-===//
//
// Part of lean-mlir.
//
// Shape rules are written once, in the result-type inference of each layer
// (lib/Dialect/NetSpec/NetSpecOps.cpp); the verifier of every layer re-runs
// that inference, so IR built in C++, in Python or parsed from text is held
// to the same rules and gets the same diagnostics. Constraint labels
// (`conv2d_c1`, ...) are repeated in the C++ comments and in
// test/lit/Dialect/NetSpec/invalid.mlir.
//
//===----------------------------------------------------------------------===//

#ifndef LEAN_MLIR_DIALECT_NETSPEC_NETSPECOPS_TD
#define LEAN_MLIR_DIALECT_NETSPEC_NETSPECOPS_TD

include "lean_mlir/Dialect/NetSpec/NetSpecDialect.td"
include "lean_mlir/Dialect/NetSpec/NetSpecInterfaces.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/IR/RegionKindInterface.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

class NetSpec_Op<string mnemonic, list<Trait> traits = []>
    : Op<NetSpec_Dialect, mnemonic, traits>;

def NetSpec_F32Tensor : RankedTensorOf<[F32]>;

//===----------------------------------------------------------------------===//
// Container ops
//===----------------------------------------------------------------------===//

def NetSpec_ModelOp : NetSpec_Op<"model", [
    Symbol, SingleBlock, IsolatedFromAbove]> {
  let summary = "A whole network: its input, named parameters and layers";
  let description = [{
    Holds one network. The body is a single block with exactly one
    `netspec.input`, any number of `netspec.param` ops with unique names,
    the layers, and a `netspec.output` terminator. The model is a symbol so
    that a module may hold several.

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
  }];
  let arguments = (ins SymbolNameAttr:$sym_name);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = "$sym_name attr-dict-with-keyword $body";
  let hasVerifier = 1;
  let skipDefaultBuilders = 1;
  let builders = [OpBuilder<(ins "::llvm::StringRef":$name)>];
  let extraClassDeclaration = [{
    /// The unique `netspec.input` of the model.
    InputOp getInputOp();
    /// The `netspec.output` terminator.
    OutputOp getOutputOp();
    /// Parameters in the order they appear in the body; that order is the
    /// order of parameter arguments everywhere after lowering.
    ::llvm::SmallVector<ParamOp, 8> getParams();
    /// Number of scalars in trainable parameters (non-trainable ones, such
    /// as running statistics, are not counted, as in PyTorch's
    /// `parameters()`).
    int64_t getParamCount();
  }];
}

def NetSpec_InputOp : NetSpec_Op<"input", [
    HasParent<"ModelOp">, Pure]> {
  let summary = "The model input";
  let description = [{
    The input activation of the model. The leading dimension is the batch
    and may be dynamic (`?`); all other dimensions are static and positive.

    ```mlir
    %x = netspec.input : tensor<?x1x28x28xf32>
    ```
  }];
  let results = (outs NetSpec_F32Tensor:$result);
  let assemblyFormat = "attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def NetSpec_ParamOp : NetSpec_Op<"param", [
    HasParent<"ModelOp">, Pure]> {
  let summary = "A named parameter tensor, trainable or not";
  let description = [{
    Declares a parameter. `name` is stable: the runtime initialises,
    differentiates and checkpoints parameters by it. A `non_trainable`
    parameter (a batch norm's running statistics: PyTorch's buffers) is
    carried like the others through every function, checkpoint and export,
    but gets no gradient and no optimizer update; a layer may update it in a
    train step (see `netspec.batch_norm`), and it is not counted in the
    model's parameter count. The shape is static and
    every dimension positive. The init scheme is applied by the runtime;
    fan-in is the product of every dimension but the output one (dim 0 of a
    rank-4 OIHW convolution weight, dim 1 of a rank-2 `[in, out]` dense
    weight), so fan-in based schemes need rank 2 or 4.

    ```mlir
    %w = netspec.param "conv2d_0.weight" init(he_normal) : tensor<32x1x3x3xf32>
    %b = netspec.param "conv2d_0.bias" init(zeros) : tensor<32xf32>
    %m = netspec.param "batch_norm_0.running_mean" init(zeros) non_trainable
        : tensor<32xf32>
    ```
  }];
  let arguments = (ins StrAttr:$param_name, NetSpec_InitAttr:$init,
                       UnitAttr:$non_trainable);
  let results = (outs NetSpec_F32Tensor:$result);
  let assemblyFormat = [{
    $param_name `init` `(` custom<EnumKeyword>($init) `)`
    (`non_trainable` $non_trainable^)? attr-dict `:` type($result)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// Number of scalars in this parameter.
    int64_t getNumElements();
    /// Fan-in and fan-out used by the init scheme (see the description).
    std::pair<int64_t, int64_t> getFans();
    /// Whether the optimizer updates this parameter.
    bool isTrainable() { return !getNonTrainable(); }
  }];
}

def NetSpec_OutputOp : NetSpec_Op<"output", [
    HasParent<"ModelOp">, Terminator, Pure]> {
  let summary = "The model output (logits)";
  let description = [{
    Terminates a `netspec.model`, returning its logits `[batch, classes]`.

    ```mlir
    netspec.output %logits : tensor<?x10xf32>
    ```
  }];
  let arguments = (ins NetSpec_F32Tensor:$logits);
  let assemblyFormat = "$logits attr-dict `:` type($logits)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Layers
//===----------------------------------------------------------------------===//

class NetSpec_LayerOp<string mnemonic, list<Trait> traits = []>
    : NetSpec_Op<mnemonic, !listconcat(traits, [
        HasParent<"ModelOp">, Pure, InferTypeOpAdaptor,
        DeclareOpInterfaceMethods<NetSpec_LayerOpInterface,
                                  ["getForwardFlopsPerSample",
                                   "emitForward", "emitVJP"]>])>;

def NetSpec_Conv2dOp : NetSpec_LayerOp<"conv2d"> {
  let summary = "2-D convolution with bias and activation";
  let description = [{
    `act(conv(input, weight) + bias)` on NCHW activations with an OIHW weight
    of shape `[out_channels, in_channels / groups, kh, kw]` and an optional
    bias of shape `[out_channels]` (a convolution followed by batch norm has
    none). `stride` applies to both spatial axes. Padding `same` gives
    `ceil(in / stride)` outputs per axis, padding `(total) / 2` before and
    the rest after (XLA's and TensorFlow's convention); `valid` pads
    nothing; `explicit` pads `pads = [top, bottom, left, right]` zeros
    (`torch.nn.Conv2d(padding=1)` is `pads([1, 1, 1, 1])`; PyTorch pads both
    sides alike where 'same' with a stride puts the odd pixel after). With `groups` G (default 1, then not printed) the channels are
    split into G groups of `in_channels / G` inputs and `out_channels / G`
    outputs, each convolved on its own (`torch.nn.Conv2d`'s `groups`);
    G = in_channels = out_channels is a depthwise convolution.

    ```mlir
    %y = netspec.conv2d %x, %w, %b stride(1) padding(same) activation(relu)
        : tensor<?x1x28x28xf32>, tensor<32x1x3x3xf32>, tensor<32xf32>
    // %y : tensor<?x32x28x28xf32>
    %z = netspec.conv2d %y, %w2 stride(1) padding(same) activation(identity)
        : tensor<?x32x28x28xf32>, tensor<32x32x3x3xf32>
    %d = netspec.conv2d %z, %w3 stride(2) groups(32) padding(same) activation(relu6)
        : tensor<?x32x28x28xf32>, tensor<32x1x3x3xf32>
    // %d : tensor<?x32x14x14xf32>, one 3x3 filter per channel
    %e = netspec.conv2d %z, %w4 stride(2) padding(explicit) pads([1, 1, 1, 1])
        activation(identity) : tensor<?x32x28x28xf32>, tensor<32x32x3x3xf32>
    // %e : tensor<?x32x14x14xf32>, as torch.nn.Conv2d(32, 32, 3, 2, padding=1)
    ```
  }];
  let arguments = (ins NetSpec_F32Tensor:$input, NetSpec_F32Tensor:$weight,
                       Optional<NetSpec_F32Tensor>:$bias, I64Attr:$stride,
                       NetSpec_PaddingAttr:$padding,
                       NetSpec_ActivationAttr:$activation,
                       DefaultValuedAttr<I64Attr, "1">:$groups,
                       OptionalAttr<DenseI64ArrayAttr>:$pads);
  let results = (outs NetSpec_F32Tensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`,` $bias^)? `stride` `(` $stride `)`
    (`groups` `(` $groups^ `)`)? `padding` `(` custom<EnumKeyword>($padding) `)`
    (`pads` `(` $pads^ `)`)? `activation` `(` custom<EnumKeyword>($activation) `)` attr-dict
    `:` type($input) `,` type($weight) (`,` type($bias)^)?
  }];
  let extraClassDeclaration = [{
    /// Padding (low, high) for spatial axis `axis` (0: height, 1: width);
    /// see the description. `pads` are the explicit ones (Padding::Explicit).
    static std::pair<int64_t, int64_t>
    computePadding(Padding mode, std::optional<llvm::ArrayRef<int64_t>> pads,
                   int axis, int64_t in, int64_t kernel, int64_t stride);
  }];
}

def NetSpec_MaxPool2dOp : NetSpec_LayerOp<"max_pool2d"> {
  let summary = "2-D max pooling";
  let description = [{
    Max over `window x window` patches of an NCHW activation, moving by
    `stride` on both spatial axes, after `padding` rows and columns of -inf
    on every side (default 0, then not printed; at most `window / 2`, as
    `torch.nn.MaxPool2d` allows): each spatial output is
    `(in + 2 * padding - window) / stride + 1`. Windows may overlap
    (`stride < window`).

    ```mlir
    %y = netspec.max_pool2d %x window(2) stride(2) : tensor<?x32x28x28xf32>
    // %y : tensor<?x32x14x14xf32>
    %z = netspec.max_pool2d %s window(3) stride(2) padding(1) : tensor<?x64x112x112xf32>
    // %z : tensor<?x64x56x56xf32> (ResNet's stem)
    ```
  }];
  let arguments = (ins NetSpec_F32Tensor:$input, I64Attr:$window,
                       I64Attr:$stride, DefaultValuedAttr<I64Attr, "0">:$padding);
  let results = (outs NetSpec_F32Tensor:$result);
  let assemblyFormat = [{
    $input `window` `(` $window `)` `stride` `(` $stride `)`
    (`padding` `(` $padding^ `)`)? attr-dict `:` type($input)
  }];
}

def NetSpec_AvgPool2dOp : NetSpec_LayerOp<"avg_pool2d"> {
  let summary = "2-D average pooling";
  let description = [{
    The mean over `window x window` patches of an NCHW activation, moving by
    `stride` on both spatial axes, after `padding` rows and columns of zeros
    on every side (default 0, then not printed; at most `window / 2`). The
    zeros count in the mean, as `torch.nn.AvgPool2d`'s default
    (`count_include_pad=True`): every window's sum is divided by
    `window * window`. Each spatial output is
    `(in + 2 * padding - window) / stride + 1`. Its VJP spreads each
    window's cotangent, divided by `window * window`, over the window's
    inputs (overlapping windows add).

    ```mlir
    %y = netspec.avg_pool2d %x window(2) stride(2) : tensor<?x32x28x28xf32>
    // %y : tensor<?x32x14x14xf32>
    %z = netspec.avg_pool2d %x window(3) stride(1) padding(1) : tensor<?x32x28x28xf32>
    // %z : tensor<?x32x28x28xf32>
    ```
  }];
  let arguments = (ins NetSpec_F32Tensor:$input, I64Attr:$window,
                       I64Attr:$stride, DefaultValuedAttr<I64Attr, "0">:$padding);
  let results = (outs NetSpec_F32Tensor:$result);
  let assemblyFormat = [{
    $input `window` `(` $window `)` `stride` `(` $stride `)`
    (`padding` `(` $padding^ `)`)? attr-dict `:` type($input)
  }];
}

def NetSpec_FlattenOp : NetSpec_LayerOp<"flatten"> {
  let summary = "Flatten every dimension but the batch";
  let description = [{
    Reshapes `[N, d1, ..., dk]` to `[N, d1 * ... * dk]` in row-major order
    (for NCHW: channel, then row, then column).

    ```mlir
    %y = netspec.flatten %x : tensor<?x32x14x14xf32>
    // %y : tensor<?x6272xf32>
    ```
  }];
  let arguments = (ins NetSpec_F32Tensor:$input);
  let results = (outs NetSpec_F32Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def NetSpec_DenseOp : NetSpec_LayerOp<"dense"> {
  let summary = "Fully connected layer with an optional bias and an activation";
  let description = [{
    `act(input @ weight + bias)` with `input : [N, in]`, `weight : [in, out]`
    and `bias : [out]` (optional: `torch.nn.Linear(bias=False)`); on a token
    sequence `[N, T, in]`, the same for every token (`[N, T, out]`).

    ```mlir
    %y = netspec.dense %x, %w, %b activation(relu)
        : tensor<?x6272xf32>, tensor<6272x512xf32>, tensor<512xf32>
    // %y : tensor<?x512xf32>
    ```
  }];
  let arguments = (ins NetSpec_F32Tensor:$input, NetSpec_F32Tensor:$weight,
                       Optional<NetSpec_F32Tensor>:$bias,
                       NetSpec_ActivationAttr:$activation);
  let results = (outs NetSpec_F32Tensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`,` $bias^)? `activation` `(` custom<EnumKeyword>($activation) `)` attr-dict
    `:` type($input) `,` type($weight) (`,` type($bias)^)?
  }];
}

def NetSpec_ReluOp : NetSpec_LayerOp<"relu"> {
  let summary = "Elementwise max(x, 0)";
  let description = [{
    A standalone ReLU, for networks that keep the activation apart from the
    layer before it.

    ```mlir
    %y = netspec.relu %x : tensor<?x512xf32>
    ```
  }];
  let arguments = (ins NetSpec_F32Tensor:$input);
  let results = (outs NetSpec_F32Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def NetSpec_BatchNormOp : NetSpec_LayerOp<"batch_norm"> {
  let summary = "Batch normalisation with learnable scale and shift";
  let description = [{
    Per-channel normalisation of an NCHW activation (statistics over N, H
    and W) or of a `[N, C]` one (over N), then `act(scale * x_hat + shift)`.
    `scale`, `shift`, `running_mean` and `running_var` are `[C]`; the
    running statistics must be `non_trainable` parameters.

    In a train step (and in `value_and_grad`) the layer normalises with the
    batch's mean and biased variance, `x_hat = (x - mean) / sqrt(var +
    epsilon)`, differentiates through both statistics, and the train step
    returns the running statistics updated as PyTorch's `BatchNorm2d` does:
    `running = (1 - momentum) * running + momentum * batch`, with the
    unbiased batch variance (`var * m / (m - 1)`, `m` values per channel).
    `predict` and `eval` normalise with the running statistics.

    ```mlir
    %y = netspec.batch_norm %x, %scale, %shift, %mean, %var
        epsilon(1.000000e-05) momentum(1.000000e-01) activation(relu)
        : tensor<?x32x28x28xf32>, tensor<32xf32>, tensor<32xf32>,
          tensor<32xf32>, tensor<32xf32>
    ```
  }];
  let arguments = (ins NetSpec_F32Tensor:$input, NetSpec_F32Tensor:$scale,
                       NetSpec_F32Tensor:$shift,
                       NetSpec_F32Tensor:$running_mean,
                       NetSpec_F32Tensor:$running_var, F64Attr:$epsilon,
                       F64Attr:$momentum,
                       NetSpec_ActivationAttr:$activation);
  let results = (outs NetSpec_F32Tensor:$result);
  let assemblyFormat = [{
    $input `,` $scale `,` $shift `,` $running_mean `,` $running_var
    `epsilon` `(` $epsilon `)` `momentum` `(` $momentum `)`
    `activation` `(` custom<EnumKeyword>($activation) `)` attr-dict
    `:` type($input) `,` type($scale) `,` type($shift) `,`
    type($running_mean) `,` type($running_var)
  }];
  let hasVerifier = 1;
}

def NetSpec_GlobalAvgPoolOp : NetSpec_LayerOp<"global_avg_pool"> {
  let summary = "Mean over the spatial axes";
  let description = [{
    `[N, C, H, W] -> [N, C]`: each channel's mean over its H x W positions.

    ```mlir
    %y = netspec.global_avg_pool %x : tensor<?x64x7x7xf32>
    // %y : tensor<?x64xf32>
    ```
  }];
  let arguments = (ins NetSpec_F32Tensor:$input);
  let results = (outs NetSpec_F32Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def NetSpec_LayerNormOp : NetSpec_LayerOp<"layer_norm"> {
  let summary = "Layer normalisation over the channels";
  let description = [{
    Normalises each sample's `[N, C]` features, each token's channels of a
    `[N, T, C]` sequence (a transformer's), or each position's channels of an
    NCHW activation (ConvNeXt's `LayerNorm2d`), with their own mean and
    biased variance, then scales and shifts per channel:
    `weight * (x - mean) / sqrt(var + epsilon) + bias`, `weight` and `bias`
    `[C]`. The same in training and inference (no running statistics).

    ```mlir
    %y = netspec.layer_norm %x, %w, %b epsilon(1.000000e-06)
        : tensor<?x96x56x56xf32>, tensor<96xf32>, tensor<96xf32>
    ```
  }];
  let arguments = (ins NetSpec_F32Tensor:$input, NetSpec_F32Tensor:$weight,
                       NetSpec_F32Tensor:$bias, F64Attr:$epsilon);
  let results = (outs NetSpec_F32Tensor:$result);
  let assemblyFormat = [{
    $input `,` $weight `,` $bias `epsilon` `(` $epsilon `)` attr-dict
    `:` type($input) `,` type($weight) `,` type($bias)
  }];
}

def NetSpec_LayerScaleOp : NetSpec_LayerOp<"layer_scale"> {
  let summary = "A learned factor per channel (ConvNeXt's layer scale)";
  let description = [{
    `x * gamma` with `gamma` `[C, 1, 1]` (torchvision's shape) broadcast over
    each channel of an NCHW activation. Its VJP: `dx = g * gamma`,
    `dgamma = sum over N, H, W of g * x`.

    ```mlir
    %y = netspec.layer_scale %x, %gamma : tensor<?x96x56x56xf32>, tensor<96x1x1xf32>
    ```
  }];
  let arguments = (ins NetSpec_F32Tensor:$input, NetSpec_F32Tensor:$gamma);
  let results = (outs NetSpec_F32Tensor:$result);
  let assemblyFormat = [{
    $input `,` $gamma attr-dict `:` type($input) `,` type($gamma)
  }];
}

def NetSpec_SqueezeExciteOp : NetSpec_LayerOp<"squeeze_excite"> {
  let summary = "Squeeze-and-excitation: a per-channel gate multiplied into the input";
  let description = [{
    For an NCHW input with C channels and S squeeze channels
    (`torchvision.ops.SqueezeExcitation`, with 1x1 convolutions `fc1`, `fc2`):

        s = mean over H, W of x                      [N, C]
        h = act(fc1(s)),   fc1: weight [S, C, 1, 1], bias [S]
        gate = sigmoid(fc2(h)), fc2: weight [C, S, 1, 1], bias [C]
        y = x * gate (per sample and channel)

    With `hard_gate`, the gate is hardsigmoid, `relu6(z + 3) / 6`
    (MobileNetV3's).

    Its VJP is the product rule: the cotangent reaches x both directly
    (times the gate) and through the gate (summed over H, W, then back
    through the gate's sigmoid or hardsigmoid, fc2, the activation, fc1 and
    the mean).

    ```mlir
    %y = netspec.squeeze_excite %x, %w1, %b1, %w2, %b2 activation(silu)
        : tensor<?x32x14x14xf32>, tensor<8x32x1x1xf32>, tensor<8xf32>,
          tensor<32x8x1x1xf32>, tensor<32xf32>
    ```
  }];
  let arguments = (ins NetSpec_F32Tensor:$input, NetSpec_F32Tensor:$fc1_weight,
                       NetSpec_F32Tensor:$fc1_bias, NetSpec_F32Tensor:$fc2_weight,
                       NetSpec_F32Tensor:$fc2_bias,
                       NetSpec_ActivationAttr:$activation, UnitAttr:$hard_gate);
  let results = (outs NetSpec_F32Tensor:$result);
  let assemblyFormat = [{
    $input `,` $fc1_weight `,` $fc1_bias `,` $fc2_weight `,` $fc2_bias
    `activation` `(` custom<EnumKeyword>($activation) `)` (`hard_gate` $hard_gate^)? attr-dict
    `:` type($input) `,` type($fc1_weight) `,` type($fc1_bias) `,`
    type($fc2_weight) `,` type($fc2_bias)
  }];
}

def NetSpec_AddOp : NetSpec_LayerOp<"add"> {
  let summary = "Elementwise sum of two activations (a residual connection)";
  let description = [{
    `lhs + rhs` for two activations of the same type. Both operands are
    layer inputs: the backward pass sends the cotangent to each, and sums
    the cotangents of a value that is read twice (the skip path and the
    layers beside it).

    ```mlir
    %y = netspec.add %a, %b : tensor<?x32x14x14xf32>
    ```
  }];
  let arguments = (ins NetSpec_F32Tensor:$lhs, NetSpec_F32Tensor:$rhs);
  let results = (outs NetSpec_F32Tensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` type($lhs) `,` type($rhs)";
}

//===----------------------------------------------------------------------===//
// Tokens and attention (the transformer's layers). A token sequence is a
// rank-3 activation [N, T, C]: N samples, T tokens, C channels, the channel
// axis last; dense and layer_norm act on its last axis.
//===----------------------------------------------------------------------===//

def NetSpec_TokensOp : NetSpec_LayerOp<"tokens"> {
  let summary = "An NCHW activation's positions as a token sequence";
  let description = [{
    `[N, C, H, W] -> [N, H * W, C]`: each spatial position (row-major, as
    `x.flatten(2).transpose(1, 2)` in PyTorch) becomes a token of C channels.
    After a convolution whose kernel and stride are the patch size, this is a
    vision transformer's patch embedding.

    ```mlir
    %t = netspec.tokens %x : tensor<?x192x14x14xf32>
    // %t : tensor<?x196x192xf32>
    ```
  }];
  let arguments = (ins NetSpec_F32Tensor:$input);
  let results = (outs NetSpec_F32Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def NetSpec_ClassTokenOp : NetSpec_LayerOp<"class_token"> {
  let summary = "A learned token put before a sequence";
  let description = [{
    `[N, T, C] -> [N, T + 1, C]`: the learned `token` (`[1, 1, C]`, timm's
    `cls_token`) becomes token 0 of every sample. Its VJP: the sequence gets
    its tokens' cotangents back, the token the sum over N of token 0's.

    ```mlir
    %y = netspec.class_token %t, %cls : tensor<?x196x192xf32>, tensor<1x1x192xf32>
    // %y : tensor<?x197x192xf32>
    ```
  }];
  let arguments = (ins NetSpec_F32Tensor:$input, NetSpec_F32Tensor:$token);
  let results = (outs NetSpec_F32Tensor:$result);
  let assemblyFormat = [{
    $input `,` $token attr-dict `:` type($input) `,` type($token)
  }];
}

def NetSpec_PositionEmbeddingOp : NetSpec_LayerOp<"position_embedding"> {
  let summary = "A learned embedding added to each position of a sequence";
  let description = [{
    `x + embedding` with `x : [N, T, C]` and `embedding : [1, T, C]` (timm's
    `pos_embed`), the same for every sample. Its VJP: `dx = g`,
    `d embedding = sum over N of g`.

    ```mlir
    %y = netspec.position_embedding %t, %pos : tensor<?x197x192xf32>, tensor<1x197x192xf32>
    ```
  }];
  let arguments = (ins NetSpec_F32Tensor:$input, NetSpec_F32Tensor:$embedding);
  let results = (outs NetSpec_F32Tensor:$result);
  let assemblyFormat = [{
    $input `,` $embedding attr-dict `:` type($input) `,` type($embedding)
  }];
}

def NetSpec_AttentionOp : NetSpec_LayerOp<"attention"> {
  let summary = "Multi-head scaled dot-product self-attention of fused q, k, v";
  let description = [{
    The core of multi-head self-attention, between the fused `qkv`
    projection and the output projection (two `netspec.dense` around it).
    `qkv : [N, T, 3 C]` holds, along its last axis, q, k and v, each `heads`
    heads of `D = C / heads` channels (timm's `Attention` layout:
    `reshape(N, T, 3, heads, D)`). Per sample and head:

        S = (q / sqrt(D)) k^T            [T, T]
        P = softmax(S) over the keys     (S minus its row maximum first)
        O = P v                          [T, D]

    and the heads' outputs side by side give `[N, T, C]`. Its VJP, with dO
    the cotangent: `dv = P^T dO`, `dP = dO v^T`, the softmax's own rule
    `dS = P * (dP - rowsum(dP * P))`, `dq = dS k / sqrt(D)`,
    `dk = dS^T q / sqrt(D)`; every product a batched `dot_general` over N and
    the heads.

    ```mlir
    %o = netspec.attention %qkv heads(3) : tensor<?x197x576xf32>
    // %o : tensor<?x197x192xf32>
    ```
  }];
  let arguments = (ins NetSpec_F32Tensor:$qkv, I64Attr:$heads);
  let results = (outs NetSpec_F32Tensor:$result);
  let assemblyFormat = "$qkv `heads` `(` $heads `)` attr-dict `:` type($qkv)";
}

def NetSpec_TakeTokenOp : NetSpec_LayerOp<"take_token"> {
  let summary = "One token of a sequence (the class token's output)";
  let description = [{
    `[N, T, C] -> [N, C]`: token `index` of every sample; a vision
    transformer's head reads token 0, the class token. Its VJP puts the
    cotangent back at that token and zeros at the others.

    ```mlir
    %c = netspec.take_token %y index(0) : tensor<?x197x192xf32>
    // %c : tensor<?x192xf32>
    ```
  }];
  let arguments = (ins NetSpec_F32Tensor:$input, I64Attr:$index);
  let results = (outs NetSpec_F32Tensor:$result);
  let assemblyFormat = "$input `index` `(` $index `)` attr-dict `:` type($input)";
}

#endif // LEAN_MLIR_DIALECT_NETSPEC_NETSPECOPS_TD
