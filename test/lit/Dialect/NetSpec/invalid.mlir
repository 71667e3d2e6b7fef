// Every netspec verifier error, labelled as in NetSpecOps.td / NetSpecOps.cpp.
// RUN: lean-mlir-opt %s -split-input-file -verify-diagnostics

// model_c1: exactly one input.
// expected-error @+1 {{'netspec.model' op must contain exactly one 'netspec.input', found 0}}
netspec.model @negative_no_input {
  %w = netspec.param "w" init(zeros) : tensor<2x2xf32>
  netspec.output %w : tensor<2x2xf32>
}

// -----

// expected-error @+1 {{'netspec.model' op must contain exactly one 'netspec.input', found 2}}
netspec.model @negative_two_inputs {
  %x = netspec.input : tensor<?x2xf32>
  %y = netspec.input : tensor<?x2xf32>
  netspec.output %x : tensor<?x2xf32>
}

// -----

// model_c2: parameter names are unique.
netspec.model @negative_duplicate_param {
  %x = netspec.input : tensor<?x2xf32>
  // expected-note @+1 {{first declared here}}
  %w = netspec.param "fc.weight" init(he_normal) : tensor<2x2xf32>
  // expected-error @+1 {{'netspec.param' op parameter name 'fc.weight' is already used in model @negative_duplicate_param}}
  %v = netspec.param "fc.weight" init(he_normal) : tensor<2x2xf32>
  netspec.output %x : tensor<?x2xf32>
}

// -----

// model_c3: the body ends with netspec.output.
// expected-error @+1 {{'netspec.model' op body must end with 'netspec.output'}}
netspec.model @negative_no_output {
  %x = netspec.input : tensor<?x2xf32>
}

// -----

// input_c1: a batch of samples with static, positive per-sample dimensions.
netspec.model @negative_input_rank1 {
  // expected-error @+1 {{'netspec.input' op result must be a tensor of rank >= 2, got 'tensor<?xf32>'}}
  %x = netspec.input : tensor<?xf32>
  netspec.output %x : tensor<?xf32>
}

// -----

netspec.model @negative_input_dynamic_feature {
  // expected-error @+1 {{'netspec.input' op result must have static non-batch dimensions, got 'tensor<?x?xf32>'}}
  %x = netspec.input : tensor<?x?xf32>
  netspec.output %x : tensor<?x?xf32>
}

// -----

netspec.model @negative_input_zero_dim {
  // expected-error @+1 {{'netspec.input' op result must have positive dimensions, got 'tensor<?x0xf32>'}}
  %x = netspec.input : tensor<?x0xf32>
  netspec.output %x : tensor<?x0xf32>
}

// -----

netspec.model @negative_input_f16 {
  // expected-error @+1 {{'netspec.input' op result #0 must be ranked tensor of 32-bit float values}}
  %x = netspec.input : tensor<?x4xf16>
  netspec.output %x : tensor<?x4xf16>
}

// -----

// param_c1: a non-empty name.
netspec.model @negative_param_empty_name {
  %x = netspec.input : tensor<?x2xf32>
  // expected-error @+1 {{'netspec.param' op parameter name must not be empty}}
  %w = netspec.param "" init(zeros) : tensor<2xf32>
  netspec.output %x : tensor<?x2xf32>
}

// -----

// param_c2: a static shape with positive dimensions.
netspec.model @negative_param_dynamic {
  %x = netspec.input : tensor<?x2xf32>
  // expected-error @+1 {{'netspec.param' op parameter 'w' must have a static shape with positive dimensions, got 'tensor<?x2xf32>'}}
  %w = netspec.param "w" init(zeros) : tensor<?x2xf32>
  netspec.output %x : tensor<?x2xf32>
}

// -----

netspec.model @negative_param_zero_dim {
  %x = netspec.input : tensor<?x2xf32>
  // expected-error @+1 {{'netspec.param' op parameter 'w' must have a static shape with positive dimensions, got 'tensor<2x0xf32>'}}
  %w = netspec.param "w" init(zeros) : tensor<2x0xf32>
  netspec.output %x : tensor<?x2xf32>
}

// -----

// param_c3: fan-based init needs a rank-2 or rank-4 weight.
netspec.model @negative_param_he_on_bias {
  %x = netspec.input : tensor<?x2xf32>
  // expected-error @+1 {{'netspec.param' op init 'he_normal' of parameter 'b' needs a rank-2 [in, out] or rank-4 OIHW weight to define fan-in, got 'tensor<2xf32>'}}
  %b = netspec.param "b" init(he_normal) : tensor<2xf32>
  netspec.output %x : tensor<?x2xf32>
}

// -----

netspec.model @negative_unknown_init {
  %x = netspec.input : tensor<?x2xf32>
  // expected-error @+1 {{unknown init 'xavier', expected one of: he_normal he_uniform glorot_uniform zeros ones}}
  %b = netspec.param "b" init(xavier) : tensor<2x2xf32>
  netspec.output %x : tensor<?x2xf32>
}

// -----

// output_c1: logits are [batch, classes].
netspec.model @negative_output_rank4 {
  %x = netspec.input : tensor<?x1x2x2xf32>
  // expected-error @+1 {{'netspec.output' op logits must be a rank-2 [batch, classes] tensor, got 'tensor<?x1x2x2xf32>'}}
  netspec.output %x : tensor<?x1x2x2xf32>
}

// -----

// conv2d_c1: NCHW input.
netspec.model @negative_conv_input_rank {
  %x = netspec.input : tensor<?x28x28xf32>
  %w = netspec.param "w" init(he_normal) : tensor<4x1x3x3xf32>
  %b = netspec.param "b" init(zeros) : tensor<4xf32>
  // expected-error @+1 {{'netspec.conv2d' op input must be a rank-4 NCHW tensor, got 'tensor<?x28x28xf32>'}}
  %y = netspec.conv2d %x, %w, %b stride(1) padding(same) activation(relu)
      : tensor<?x28x28xf32>, tensor<4x1x3x3xf32>, tensor<4xf32>
  netspec.output %x : tensor<?x28x28xf32>
}

// -----

// conv2d_c2: static OIHW weight.
netspec.model @negative_conv_weight_rank {
  %x = netspec.input : tensor<?x1x8x8xf32>
  %w = netspec.param "w" init(he_normal) : tensor<4x9xf32>
  %b = netspec.param "b" init(zeros) : tensor<4xf32>
  // expected-error @+1 {{'netspec.conv2d' op weight must be a static rank-4 OIHW tensor with positive dimensions, got 'tensor<4x9xf32>'}}
  %y = netspec.conv2d %x, %w, %b stride(1) padding(same) activation(relu)
      : tensor<?x1x8x8xf32>, tensor<4x9xf32>, tensor<4xf32>
  %f = netspec.flatten %y : tensor<?x4x8x8xf32>
  netspec.output %f : tensor<?x256xf32>
}

// -----

// conv2d_c3: channels agree.
netspec.model @negative_conv_channel_mismatch {
  %x = netspec.input : tensor<?x3x8x8xf32>
  %w = netspec.param "w" init(he_normal) : tensor<4x1x3x3xf32>
  %b = netspec.param "b" init(zeros) : tensor<4xf32>
  // expected-error @+1 {{'netspec.conv2d' op input has 3 channels but the weight expects 1 (weight 'tensor<4x1x3x3xf32>' is OIHW)}}
  %y = netspec.conv2d %x, %w, %b stride(1) padding(same) activation(relu)
      : tensor<?x3x8x8xf32>, tensor<4x1x3x3xf32>, tensor<4xf32>
  %f = netspec.flatten %y : tensor<?x4x8x8xf32>
  netspec.output %f : tensor<?x256xf32>
}

// -----

// conv2d_c3 with groups: the weight holds in_channels / groups inputs.
netspec.model @negative_grouped_conv_channel_mismatch {
  %x = netspec.input : tensor<?x4x8x8xf32>
  %w = netspec.param "w" init(he_normal) : tensor<4x1x3x3xf32>
  // expected-error @+1 {{'netspec.conv2d' op input has 4 channels but the weight expects 2 (weight 'tensor<4x1x3x3xf32>' is OIHW: 1 input channels in each of 2 groups)}}
  %y = netspec.conv2d %x, %w stride(1) groups(2) padding(same) activation(relu)
      : tensor<?x4x8x8xf32>, tensor<4x1x3x3xf32>
  %f = netspec.flatten %y : tensor<?x4x8x8xf32>
  netspec.output %f : tensor<?x256xf32>
}

// -----

// conv2d_c7: groups divide the channels.
netspec.model @negative_conv_groups {
  %x = netspec.input : tensor<?x6x8x8xf32>
  %w = netspec.param "w" init(he_normal) : tensor<4x2x3x3xf32>
  // expected-error @+1 {{'netspec.conv2d' op groups(3) must divide the input's 6 channels and the weight's 4 output channels}}
  %y = netspec.conv2d %x, %w stride(1) groups(3) padding(same) activation(relu)
      : tensor<?x6x8x8xf32>, tensor<4x2x3x3xf32>
  %f = netspec.flatten %y : tensor<?x4x8x8xf32>
  netspec.output %f : tensor<?x256xf32>
}

// -----

// conv2d_c7: positive groups.
netspec.model @negative_conv_zero_groups {
  %x = netspec.input : tensor<?x2x8x8xf32>
  %w = netspec.param "w" init(he_normal) : tensor<2x2x3x3xf32>
  // expected-error @+1 {{groups}}
  %y = netspec.conv2d %x, %w stride(1) groups(0) padding(same) activation(relu)
      : tensor<?x2x8x8xf32>, tensor<2x2x3x3xf32>
  %f = netspec.flatten %y : tensor<?x2x8x8xf32>
  netspec.output %f : tensor<?x128xf32>
}

// -----

// conv2d_c4: one bias per output channel.
netspec.model @negative_conv_bias {
  %x = netspec.input : tensor<?x1x8x8xf32>
  %w = netspec.param "w" init(he_normal) : tensor<4x1x3x3xf32>
  %b = netspec.param "b" init(zeros) : tensor<5xf32>
  // expected-error @+1 {{'netspec.conv2d' op bias must be 'tensor<4xf32>' (one per output channel), got 'tensor<5xf32>'}}
  %y = netspec.conv2d %x, %w, %b stride(1) padding(same) activation(relu)
      : tensor<?x1x8x8xf32>, tensor<4x1x3x3xf32>, tensor<5xf32>
  %f = netspec.flatten %y : tensor<?x4x8x8xf32>
  netspec.output %f : tensor<?x256xf32>
}

// -----

// conv2d_c5: positive stride.
netspec.model @negative_conv_stride_zero {
  %x = netspec.input : tensor<?x1x8x8xf32>
  %w = netspec.param "w" init(he_normal) : tensor<4x1x3x3xf32>
  %b = netspec.param "b" init(zeros) : tensor<4xf32>
  // expected-error @+1 {{'netspec.conv2d' op stride must be positive, got 0}}
  %y = netspec.conv2d %x, %w, %b stride(0) padding(same) activation(relu)
      : tensor<?x1x8x8xf32>, tensor<4x1x3x3xf32>, tensor<4xf32>
  %f = netspec.flatten %y : tensor<?x4x8x8xf32>
  netspec.output %f : tensor<?x256xf32>
}

// -----

netspec.model @negative_conv_stride_negative {
  %x = netspec.input : tensor<?x1x8x8xf32>
  %w = netspec.param "w" init(he_normal) : tensor<4x1x3x3xf32>
  %b = netspec.param "b" init(zeros) : tensor<4xf32>
  // expected-error @+1 {{'netspec.conv2d' op stride must be positive, got -2}}
  %y = netspec.conv2d %x, %w, %b stride(-2) padding(valid) activation(relu)
      : tensor<?x1x8x8xf32>, tensor<4x1x3x3xf32>, tensor<4xf32>
  %f = netspec.flatten %y : tensor<?x4x8x8xf32>
  netspec.output %f : tensor<?x256xf32>
}

// -----

// conv2d_c8: explicit padding has its four non-negative pads, and only it.
netspec.model @negative_conv_explicit_without_pads {
  %x = netspec.input : tensor<?x1x8x8xf32>
  %w = netspec.param "w" init(he_normal) : tensor<4x1x3x3xf32>
  // expected-error @+1 {{'netspec.conv2d' op padding(explicit) needs pads([top, bottom, left, right])}}
  %y = netspec.conv2d %x, %w stride(1) padding(explicit) activation(relu)
      : tensor<?x1x8x8xf32>, tensor<4x1x3x3xf32>
  %f = netspec.flatten %y : tensor<?x4x8x8xf32>
  netspec.output %f : tensor<?x256xf32>
}

// -----

// conv2d_c8: explicit padding has its four non-negative pads, and only it.
netspec.model @negative_conv_pads_without_explicit {
  %x = netspec.input : tensor<?x1x8x8xf32>
  %w = netspec.param "w" init(he_normal) : tensor<4x1x3x3xf32>
  // expected-error @+1 {{'netspec.conv2d' op pads are for padding(explicit), not padding(same)}}
  %y = netspec.conv2d %x, %w stride(1) padding(same) pads([1, 1, 1, 1]) activation(relu)
      : tensor<?x1x8x8xf32>, tensor<4x1x3x3xf32>
  %f = netspec.flatten %y : tensor<?x4x8x8xf32>
  netspec.output %f : tensor<?x256xf32>
}

// -----

// conv2d_c8: explicit padding has its four non-negative pads, and only it.
netspec.model @negative_conv_three_pads {
  %x = netspec.input : tensor<?x1x8x8xf32>
  %w = netspec.param "w" init(he_normal) : tensor<4x1x3x3xf32>
  // expected-error @+1 {{'netspec.conv2d' op pads must be four non-negative counts [top, bottom, left, right], got 3 values}}
  %y = netspec.conv2d %x, %w stride(1) padding(explicit) pads([1, 1, 1]) activation(relu)
      : tensor<?x1x8x8xf32>, tensor<4x1x3x3xf32>
  %f = netspec.flatten %y : tensor<?x4x8x8xf32>
  netspec.output %f : tensor<?x256xf32>
}

// -----

// conv2d_c8: explicit padding has its four non-negative pads, and only it.
netspec.model @negative_conv_negative_pad {
  %x = netspec.input : tensor<?x1x8x8xf32>
  %w = netspec.param "w" init(he_normal) : tensor<4x1x3x3xf32>
  // expected-error @+1 {{'netspec.conv2d' op pads must be four non-negative counts [top, bottom, left, right], got 4 values}}
  %y = netspec.conv2d %x, %w stride(1) padding(explicit) pads([1, -1, 1, 1]) activation(relu)
      : tensor<?x1x8x8xf32>, tensor<4x1x3x3xf32>
  %f = netspec.flatten %y : tensor<?x4x8x8xf32>
  netspec.output %f : tensor<?x256xf32>
}

// -----

// pool_c5 (avg_pool2d shares max_pool2d's checks): padding at most half the window.
netspec.model @negative_avg_pool_padding {
  %x = netspec.input : tensor<?x1x8x8xf32>
  // expected-error @+1 {{'netspec.avg_pool2d' op padding(2) must be between 0 and half the window (3)}}
  %y = netspec.avg_pool2d %x window(3) stride(1) padding(2) : tensor<?x1x8x8xf32>
  %f = netspec.flatten %y : tensor<?x1x10x10xf32>
  netspec.output %f : tensor<?x100xf32>
}

// -----

// conv2d_c6: the kernel fits in the padded input.
netspec.model @negative_conv_kernel_too_large {
  %x = netspec.input : tensor<?x1x4x4xf32>
  %w = netspec.param "w" init(he_normal) : tensor<2x1x5x5xf32>
  %b = netspec.param "b" init(zeros) : tensor<2xf32>
  // expected-error @+1 {{'netspec.conv2d' op kernel 5x5 is larger than the padded input 4x4 (padding valid)}}
  %y = netspec.conv2d %x, %w, %b stride(1) padding(valid) activation(identity)
      : tensor<?x1x4x4xf32>, tensor<2x1x5x5xf32>, tensor<2xf32>
  %f = netspec.flatten %y : tensor<?x2x1x1xf32>
  netspec.output %f : tensor<?x2xf32>
}

// -----

netspec.model @negative_conv_unknown_padding {
  %x = netspec.input : tensor<?x1x4x4xf32>
  %w = netspec.param "w" init(he_normal) : tensor<2x1x3x3xf32>
  %b = netspec.param "b" init(zeros) : tensor<2xf32>
  // expected-error @+1 {{unknown padding 'full', expected one of: same valid}}
  %y = netspec.conv2d %x, %w, %b stride(1) padding(full) activation(identity)
      : tensor<?x1x4x4xf32>, tensor<2x1x3x3xf32>, tensor<2xf32>
  netspec.output %x : tensor<?x1x4x4xf32>
}

// -----

// The result type is inferred; a generic op that states another one is rejected.
netspec.model @negative_conv_wrong_result {
  %x = netspec.input : tensor<?x1x4x4xf32>
  %w = netspec.param "w" init(he_normal) : tensor<2x1x3x3xf32>
  %b = netspec.param "b" init(zeros) : tensor<2xf32>
  // expected-error @+2 {{'netspec.conv2d' op failed to infer returned types}}
  // expected-error @+1 {{'netspec.conv2d' op inferred type(s) 'tensor<?x2x4x4xf32>' are incompatible with return type(s) of operation 'tensor<?x2x2x2xf32>'}}
  %y = "netspec.conv2d"(%x, %w, %b) <{activation = #netspec.activation<relu>, padding = #netspec.padding<same>, stride = 1 : i64}>
      : (tensor<?x1x4x4xf32>, tensor<2x1x3x3xf32>, tensor<2xf32>) -> tensor<?x2x2x2xf32>
  %f = netspec.flatten %y : tensor<?x2x2x2xf32>
  netspec.output %f : tensor<?x8xf32>
}

// -----

// max_pool2d_c1: NCHW input.
netspec.model @negative_pool_rank {
  %x = netspec.input : tensor<?x16xf32>
  // expected-error @+1 {{'netspec.max_pool2d' op input must be a rank-4 NCHW tensor, got 'tensor<?x16xf32>'}}
  %p = netspec.max_pool2d %x window(2) stride(2) : tensor<?x16xf32>
  netspec.output %x : tensor<?x16xf32>
}

// -----

// max_pool2d_c2: positive window.
netspec.model @negative_pool_window_zero {
  %x = netspec.input : tensor<?x1x4x4xf32>
  // expected-error @+1 {{'netspec.max_pool2d' op window must be positive, got 0}}
  %p = netspec.max_pool2d %x window(0) stride(2) : tensor<?x1x4x4xf32>
  %f = netspec.flatten %p : tensor<?x1x2x2xf32>
  netspec.output %f : tensor<?x4xf32>
}

// -----

// max_pool2d_c3: positive stride.
netspec.model @negative_pool_stride_zero {
  %x = netspec.input : tensor<?x1x4x4xf32>
  // expected-error @+1 {{'netspec.max_pool2d' op stride must be positive, got 0}}
  %p = netspec.max_pool2d %x window(2) stride(0) : tensor<?x1x4x4xf32>
  %f = netspec.flatten %p : tensor<?x1x2x2xf32>
  netspec.output %f : tensor<?x4xf32>
}

// -----

// max_pool2d_c4: the window fits.
netspec.model @negative_pool_too_large {
  %x = netspec.input : tensor<?x1x4x3xf32>
  // expected-error @+1 {{'netspec.max_pool2d' op window 4x4 does not fit the input 4x3}}
  %p = netspec.max_pool2d %x window(4) stride(1) : tensor<?x1x4x3xf32>
  %f = netspec.flatten %p : tensor<?x1x1x1xf32>
  netspec.output %f : tensor<?x1xf32>
}

// -----

// max_pool2d_c5: at most half the window of padding.
netspec.model @negative_pool_padding {
  %x = netspec.input : tensor<?x1x4x4xf32>
  // expected-error @+1 {{'netspec.max_pool2d' op padding(2) must be between 0 and half the window (3)}}
  %p = netspec.max_pool2d %x window(3) stride(1) padding(2) : tensor<?x1x4x4xf32>
  %f = netspec.flatten %p : tensor<?x1x6x6xf32>
  netspec.output %f : tensor<?x36xf32>
}

// -----

// flatten_c1: a batch of samples.
netspec.model @negative_flatten_rank1 {
  %x = netspec.input : tensor<?x4xf32>
  %w = netspec.param "w" init(zeros) : tensor<4xf32>
  // expected-error @+1 {{'netspec.flatten' op input must be a tensor of rank >= 2, got 'tensor<4xf32>'}}
  %f = netspec.flatten %w : tensor<4xf32>
  netspec.output %x : tensor<?x4xf32>
}

// -----

// dense_c1: [batch, features] input.
netspec.model @negative_dense_unflattened {
  %x = netspec.input : tensor<?x1x2x2xf32>
  %w = netspec.param "w" init(he_normal) : tensor<4x3xf32>
  %b = netspec.param "b" init(zeros) : tensor<3xf32>
  // expected-error @+1 {{'netspec.dense' op input must be [batch, features] or [batch, tokens, features], got 'tensor<?x1x2x2xf32>'}}
  %y = netspec.dense %x, %w, %b activation(relu) : tensor<?x1x2x2xf32>, tensor<4x3xf32>, tensor<3xf32>
  netspec.output %y : tensor<?x3xf32>
}

// -----

// dense_c2: static [in, out] weight.
netspec.model @negative_dense_weight_rank {
  %x = netspec.input : tensor<?x4xf32>
  %w = netspec.param "w" init(zeros) : tensor<12xf32>
  %b = netspec.param "b" init(zeros) : tensor<3xf32>
  // expected-error @+1 {{'netspec.dense' op weight must be a static rank-2 [in, out] tensor with positive dimensions, got 'tensor<12xf32>'}}
  %y = netspec.dense %x, %w, %b activation(relu) : tensor<?x4xf32>, tensor<12xf32>, tensor<3xf32>
  netspec.output %y : tensor<?x3xf32>
}

// -----

// dense_c3: the dense input size matches the flattened size.
netspec.model @negative_dense_after_flatten {
  %x = netspec.input : tensor<?x32x14x14xf32>
  %f = netspec.flatten %x : tensor<?x32x14x14xf32>
  %w = netspec.param "w" init(he_normal) : tensor<6200x10xf32>
  %b = netspec.param "b" init(zeros) : tensor<10xf32>
  // expected-error @+1 {{'netspec.dense' op input has 6272 features but the weight expects 6200 (weight 'tensor<6200x10xf32>' is [in, out])}}
  %y = netspec.dense %f, %w, %b activation(identity) : tensor<?x6272xf32>, tensor<6200x10xf32>, tensor<10xf32>
  netspec.output %y : tensor<?x10xf32>
}

// -----

// dense_c4: one bias per output feature.
netspec.model @negative_dense_bias {
  %x = netspec.input : tensor<?x4xf32>
  %w = netspec.param "w" init(he_normal) : tensor<4x3xf32>
  %b = netspec.param "b" init(zeros) : tensor<4xf32>
  // expected-error @+1 {{'netspec.dense' op bias must be 'tensor<3xf32>' (one per output feature), got 'tensor<4xf32>'}}
  %y = netspec.dense %x, %w, %b activation(relu) : tensor<?x4xf32>, tensor<4x3xf32>, tensor<4xf32>
  netspec.output %y : tensor<?x3xf32>
}

// -----

// relu_c1: a batch of samples.
netspec.model @negative_relu_rank1 {
  %x = netspec.input : tensor<?x4xf32>
  %w = netspec.param "w" init(zeros) : tensor<4xf32>
  // expected-error @+1 {{'netspec.relu' op input must be a tensor of rank >= 2, got 'tensor<4xf32>'}}
  %r = netspec.relu %w : tensor<4xf32>
  netspec.output %x : tensor<?x4xf32>
}

// -----

// Layers live inside a model.
func.func @negative_layer_outside_model(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{'netspec.relu' op expects parent op 'netspec.model'}}
  %r = netspec.relu %x : tensor<2x4xf32>
  return %r : tensor<2x4xf32>
}

// -----

// conv2d_c4 also holds when the bias is left out: a bias, if any, is [O].
netspec.model @negative_conv_nobias_ok_bias_bad {
  %x = netspec.input : tensor<?x1x4x4xf32>
  %w = netspec.param "w" init(he_normal) : tensor<2x1x3x3xf32>
  %b = netspec.param "b" init(zeros) : tensor<3xf32>
  // expected-error @+1 {{'netspec.conv2d' op bias must be 'tensor<2xf32>' (one per output channel), got 'tensor<3xf32>'}}
  %y = netspec.conv2d %x, %w, %b stride(1) padding(same) activation(identity) : tensor<?x1x4x4xf32>, tensor<2x1x3x3xf32>, tensor<3xf32>
  %f = netspec.flatten %x : tensor<?x1x4x4xf32>
  netspec.output %f : tensor<?x16xf32>
}

// -----

// batch_norm_c1: a [N, C] or NCHW input.
netspec.model @negative_bn_rank3 {
  %x = netspec.input : tensor<?x4x5xf32>
  %s = netspec.param "s" init(ones) : tensor<4xf32>
  %m = netspec.param "m" init(zeros) non_trainable : tensor<4xf32>
  %v = netspec.param "v" init(ones) non_trainable : tensor<4xf32>
  // expected-error @+1 {{'netspec.batch_norm' op input must be a rank-4 NCHW tensor, got 'tensor<?x4x5xf32>'}}
  %y = netspec.batch_norm %x, %s, %s, %m, %v epsilon(1.0e-5) momentum(0.1) activation(identity) : tensor<?x4x5xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  %f = netspec.flatten %x : tensor<?x4x5xf32>
  netspec.output %f : tensor<?x20xf32>
}

// -----

// batch_norm_c2: per-channel parameters match the input's channels.
netspec.model @negative_bn_channels {
  %x = netspec.input : tensor<?x8x2x2xf32>
  %s = netspec.param "s" init(ones) : tensor<4xf32>
  %m = netspec.param "m" init(zeros) non_trainable : tensor<4xf32>
  %v = netspec.param "v" init(ones) non_trainable : tensor<4xf32>
  // expected-error @+1 {{'netspec.batch_norm' op scale must be 'tensor<8xf32>' (one per channel of the input), got 'tensor<4xf32>'}}
  %y = netspec.batch_norm %x, %s, %s, %m, %v epsilon(1.0e-5) momentum(0.1) activation(identity) : tensor<?x8x2x2xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  %f = netspec.flatten %y : tensor<?x8x2x2xf32>
  netspec.output %f : tensor<?x32xf32>
}

// -----

// batch_norm_c2: the running statistics too.
netspec.model @negative_bn_running_shape {
  %x = netspec.input : tensor<?x4xf32>
  %s = netspec.param "s" init(ones) : tensor<4xf32>
  %m = netspec.param "m" init(zeros) non_trainable : tensor<4xf32>
  %v = netspec.param "v" init(ones) non_trainable : tensor<2x2xf32>
  // expected-error @+1 {{'netspec.batch_norm' op running_var must be 'tensor<4xf32>' (one per channel of the input), got 'tensor<2x2xf32>'}}
  %y = netspec.batch_norm %x, %s, %s, %m, %v epsilon(1.0e-5) momentum(0.1) activation(identity) : tensor<?x4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<2x2xf32>
  netspec.output %y : tensor<?x4xf32>
}

// -----

// batch_norm_c3: epsilon > 0.
netspec.model @negative_bn_epsilon {
  %x = netspec.input : tensor<?x4xf32>
  %s = netspec.param "s" init(ones) : tensor<4xf32>
  %m = netspec.param "m" init(zeros) non_trainable : tensor<4xf32>
  %v = netspec.param "v" init(ones) non_trainable : tensor<4xf32>
  // expected-error @+1 {{'netspec.batch_norm' op epsilon must be positive, got 0}}
  %y = netspec.batch_norm %x, %s, %s, %m, %v epsilon(0.0) momentum(0.1) activation(identity) : tensor<?x4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  netspec.output %y : tensor<?x4xf32>
}

// -----

// batch_norm_c4: momentum in [0, 1].
netspec.model @negative_bn_momentum {
  %x = netspec.input : tensor<?x4xf32>
  %s = netspec.param "s" init(ones) : tensor<4xf32>
  %m = netspec.param "m" init(zeros) non_trainable : tensor<4xf32>
  %v = netspec.param "v" init(ones) non_trainable : tensor<4xf32>
  // expected-error @+1 {{'netspec.batch_norm' op momentum must be in [0, 1], got 1.5}}
  %y = netspec.batch_norm %x, %s, %s, %m, %v epsilon(1.0e-5) momentum(1.5) activation(identity) : tensor<?x4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  netspec.output %y : tensor<?x4xf32>
}

// -----

// batch_norm_c5: running statistics are non-trainable parameters.
netspec.model @negative_bn_trainable_stats {
  %x = netspec.input : tensor<?x4xf32>
  %s = netspec.param "s" init(ones) : tensor<4xf32>
  %m = netspec.param "m" init(zeros) : tensor<4xf32>
  %v = netspec.param "v" init(ones) non_trainable : tensor<4xf32>
  // expected-error @+1 {{'netspec.batch_norm' op running_mean must be a non_trainable parameter; 'm' is trainable (mark it non_trainable)}}
  %y = netspec.batch_norm %x, %s, %s, %m, %v epsilon(1.0e-5) momentum(0.1) activation(identity) : tensor<?x4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  netspec.output %y : tensor<?x4xf32>
}

// -----

// model_c4: one batch_norm per set of running statistics.
netspec.model @negative_bn_shared_stats {
  %x = netspec.input : tensor<?x4xf32>
  %s = netspec.param "s" init(ones) : tensor<4xf32>
  %m = netspec.param "m" init(zeros) non_trainable : tensor<4xf32>
  %v = netspec.param "v" init(ones) non_trainable : tensor<4xf32>
  // expected-note @+1 {{the other batch_norm}}
  %y = netspec.batch_norm %x, %s, %s, %m, %v epsilon(1.0e-5) momentum(0.1) activation(identity) : tensor<?x4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  // expected-error @+1 {{'netspec.batch_norm' op running statistic 'm' is already updated by another batch_norm; each layer needs its own}}
  %z = netspec.batch_norm %y, %s, %s, %m, %v epsilon(1.0e-5) momentum(0.1) activation(identity) : tensor<?x4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  netspec.output %z : tensor<?x4xf32>
}

// -----

// global_avg_pool_c1: NCHW input.
netspec.model @negative_gap_rank2 {
  %x = netspec.input : tensor<?x4xf32>
  // expected-error @+1 {{'netspec.global_avg_pool' op input must be a rank-4 NCHW tensor, got 'tensor<?x4xf32>'}}
  %y = netspec.global_avg_pool %x : tensor<?x4xf32>
  netspec.output %x : tensor<?x4xf32>
}

// -----

// add_c1: activations.
netspec.model @negative_add_rank1 {
  %x = netspec.input : tensor<?x4xf32>
  %w = netspec.param "w" init(zeros) : tensor<4xf32>
  // expected-error @+1 {{'netspec.add' op rhs must be a tensor of rank >= 2, got 'tensor<4xf32>'}}
  %y = netspec.add %x, %w : tensor<?x4xf32>, tensor<4xf32>
  netspec.output %x : tensor<?x4xf32>
}

// -----

// add_c2: two activations of one type.
netspec.model @negative_add_types {
  %x = netspec.input : tensor<?x2x4x4xf32>
  %p = netspec.max_pool2d %x window(2) stride(2) : tensor<?x2x4x4xf32>
  // expected-error @+1 {{'netspec.add' op operands must have the same type, got 'tensor<?x2x4x4xf32>' and 'tensor<?x2x2x2xf32>'}}
  %y = netspec.add %x, %p : tensor<?x2x4x4xf32>, tensor<?x2x2x2xf32>
  %f = netspec.flatten %p : tensor<?x2x2x2xf32>
  netspec.output %f : tensor<?x8xf32>
}

// -----

// squeeze_excite_c2: fc1 reads the input's channels.
netspec.model @negative_squeeze_excite_fc1 {
  %x = netspec.input : tensor<?x6x5x5xf32>
  %w1 = netspec.param "w1" init(he_normal) : tensor<2x4x1x1xf32>
  %b1 = netspec.param "b1" init(zeros) : tensor<2xf32>
  %w2 = netspec.param "w2" init(he_normal) : tensor<6x2x1x1xf32>
  %b2 = netspec.param "b2" init(zeros) : tensor<6xf32>
  // expected-error @+1 {{'netspec.squeeze_excite' op fc1 weight must be [squeeze, 6, 1, 1] (a 1x1 convolution from the input's 6 channels), got 'tensor<2x4x1x1xf32>'}}
  %y = netspec.squeeze_excite %x, %w1, %b1, %w2, %b2 activation(silu)
      : tensor<?x6x5x5xf32>, tensor<2x4x1x1xf32>, tensor<2xf32>, tensor<6x2x1x1xf32>, tensor<6xf32>
  %f = netspec.flatten %y : tensor<?x6x5x5xf32>
  netspec.output %f : tensor<?x150xf32>
}

// -----

// squeeze_excite_c3: fc2 goes back to the input's channels.
netspec.model @negative_squeeze_excite_fc2 {
  %x = netspec.input : tensor<?x6x5x5xf32>
  %w1 = netspec.param "w1" init(he_normal) : tensor<2x6x1x1xf32>
  %b1 = netspec.param "b1" init(zeros) : tensor<2xf32>
  %w2 = netspec.param "w2" init(he_normal) : tensor<6x3x1x1xf32>
  %b2 = netspec.param "b2" init(zeros) : tensor<6xf32>
  // expected-error @+1 {{'netspec.squeeze_excite' op fc2 weight must be 'tensor<6x2x1x1xf32>' (a 1x1 convolution back to the input's channels), got 'tensor<6x3x1x1xf32>'}}
  %y = netspec.squeeze_excite %x, %w1, %b1, %w2, %b2 activation(silu)
      : tensor<?x6x5x5xf32>, tensor<2x6x1x1xf32>, tensor<2xf32>, tensor<6x3x1x1xf32>, tensor<6xf32>
  %f = netspec.flatten %y : tensor<?x6x5x5xf32>
  netspec.output %f : tensor<?x150xf32>
}

// -----

// layer_norm_c2: one weight per channel.
netspec.model @negative_layer_norm_weight {
  %x = netspec.input : tensor<?x6x5x5xf32>
  %w = netspec.param "w" init(ones) : tensor<5xf32>
  %b = netspec.param "b" init(zeros) : tensor<6xf32>
  // expected-error @+1 {{'netspec.layer_norm' op weight must be 'tensor<6xf32>' (one per channel of the input), got 'tensor<5xf32>'}}
  %y = netspec.layer_norm %x, %w, %b epsilon(1.0e-06) : tensor<?x6x5x5xf32>, tensor<5xf32>, tensor<6xf32>
  %f = netspec.flatten %y : tensor<?x6x5x5xf32>
  netspec.output %f : tensor<?x150xf32>
}

// -----

// tokens_c1: an NCHW input.
netspec.model @negative_tokens_rank {
  %x = netspec.input : tensor<?x6xf32>
  // expected-error @+1 {{'netspec.tokens' op input must be a rank-4 NCHW tensor, got 'tensor<?x6xf32>'}}
  %t = netspec.tokens %x : tensor<?x6xf32>
  netspec.output %t : tensor<?x6xf32>
}

// -----

// class_token_c2: the token [1, 1, C].
netspec.model @negative_class_token_shape {
  %x = netspec.input : tensor<?x4x6xf32>
  %cls = netspec.param "cls" init(zeros) : tensor<1x6xf32>
  // expected-error @+1 {{'netspec.class_token' op token must be 'tensor<1x1x6xf32>' (one token of the sequence's channels), got 'tensor<1x6xf32>'}}
  %y = netspec.class_token %x, %cls : tensor<?x4x6xf32>, tensor<1x6xf32>
  netspec.output %y : tensor<?x5x6xf32>
}

// -----

// position_embedding_c2: the embedding [1, T, C].
netspec.model @negative_position_embedding_tokens {
  %x = netspec.input : tensor<?x4x6xf32>
  %pos = netspec.param "pos" init(zeros) : tensor<1x5x6xf32>
  // expected-error @+1 {{'netspec.position_embedding' op embedding must be 'tensor<1x4x6xf32>' (one per token and channel), got 'tensor<1x5x6xf32>'}}
  %y = netspec.position_embedding %x, %pos : tensor<?x4x6xf32>, tensor<1x5x6xf32>
  netspec.output %y : tensor<?x4x6xf32>
}

// -----

// attention_c3: q, k and v split evenly over the heads.
netspec.model @negative_attention_heads {
  %x = netspec.input : tensor<?x4x18xf32>
  // expected-error @+1 {{'netspec.attention' op qkv has 18 channels, not 3 x heads x head size (q, k and v of 4 heads each)}}
  %y = netspec.attention %x heads(4) : tensor<?x4x18xf32>
  netspec.output %y : tensor<?x4x6xf32>
}

// -----

// attention_c2: heads > 0.
netspec.model @negative_attention_no_heads {
  %x = netspec.input : tensor<?x4x18xf32>
  // expected-error @+1 {{'netspec.attention' op heads must be positive, got 0}}
  %y = netspec.attention %x heads(0) : tensor<?x4x18xf32>
  netspec.output %y : tensor<?x4x6xf32>
}

// -----

// take_token_c2: an index into the sequence.
netspec.model @negative_take_token_index {
  %x = netspec.input : tensor<?x4x6xf32>
  // expected-error @+1 {{'netspec.take_token' op index 4 is not a token of the 4-token sequence}}
  %y = netspec.take_token %x index(4) : tensor<?x4x6xf32>
  netspec.output %y : tensor<?x6xf32>
}

// -----

// layer_norm_c2 on a token sequence: one weight per channel (the last axis).
netspec.model @negative_layer_norm_tokens {
  %x = netspec.input : tensor<?x4x6xf32>
  %w = netspec.param "w" init(ones) : tensor<4xf32>
  %b = netspec.param "b" init(zeros) : tensor<6xf32>
  // expected-error @+1 {{'netspec.layer_norm' op weight must be 'tensor<6xf32>' (one per channel of the input), got 'tensor<4xf32>'}}
  %y = netspec.layer_norm %x, %w, %b epsilon(1.0e-06) : tensor<?x4x6xf32>, tensor<4xf32>, tensor<6xf32>
  netspec.output %y : tensor<?x4x6xf32>
}

// -----

// batch_norm_c1: no token sequences (only layer_norm takes them).
netspec.model @negative_batch_norm_tokens {
  %x = netspec.input : tensor<?x4x6xf32>
  %s = netspec.param "s" init(ones) : tensor<4xf32>
  %t = netspec.param "t" init(zeros) : tensor<4xf32>
  %m = netspec.param "m" init(zeros) non_trainable : tensor<4xf32>
  %v = netspec.param "v" init(ones) non_trainable : tensor<4xf32>
  // expected-error @+1 {{'netspec.batch_norm' op input must be a rank-4 NCHW tensor, got 'tensor<?x4x6xf32>'}}
  %y = netspec.batch_norm %x, %s, %t, %m, %v epsilon(1.0e-05) momentum(1.0e-01) activation(identity)
      : tensor<?x4x6xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  netspec.output %y : tensor<?x4x6xf32>
}

// -----

// class_token_c1: a token sequence.
netspec.model @negative_class_token_rank {
  %x = netspec.input : tensor<?x2x4x6xf32>
  %cls = netspec.param "cls" init(zeros) : tensor<1x1x6xf32>
  // expected-error @+1 {{'netspec.class_token' op input must be a rank-3 [batch, tokens, channels] tensor, got 'tensor<?x2x4x6xf32>'}}
  %y = netspec.class_token %x, %cls : tensor<?x2x4x6xf32>, tensor<1x1x6xf32>
  netspec.output %y : tensor<?x5x6xf32>
}

// -----

// position_embedding_c1: a token sequence.
netspec.model @negative_position_embedding_rank {
  %x = netspec.input : tensor<?x6xf32>
  %pos = netspec.param "pos" init(zeros) : tensor<1x1x6xf32>
  // expected-error @+1 {{'netspec.position_embedding' op input must be a rank-3 [batch, tokens, channels] tensor, got 'tensor<?x6xf32>'}}
  %y = netspec.position_embedding %x, %pos : tensor<?x6xf32>, tensor<1x1x6xf32>
  netspec.output %y : tensor<?x6xf32>
}

// -----

// attention_c1: a token sequence.
netspec.model @negative_attention_rank {
  %x = netspec.input : tensor<?x2x3x18xf32>
  // expected-error @+1 {{'netspec.attention' op qkv must be a rank-3 [batch, tokens, channels] tensor, got 'tensor<?x2x3x18xf32>'}}
  %y = netspec.attention %x heads(2) : tensor<?x2x3x18xf32>
  netspec.output %y : tensor<?x2x6xf32>
}

// -----

// take_token_c1: a token sequence.
netspec.model @negative_take_token_rank {
  %x = netspec.input : tensor<?x6xf32>
  // expected-error @+1 {{'netspec.take_token' op input must be a rank-3 [batch, tokens, channels] tensor, got 'tensor<?x6xf32>'}}
  %y = netspec.take_token %x index(0) : tensor<?x6xf32>
  netspec.output %y : tensor<?x6xf32>
}

// -----

// take_token_c2: no negative index.
netspec.model @negative_take_token_negative {
  %x = netspec.input : tensor<?x4x6xf32>
  // expected-error @+1 {{'netspec.take_token' op index -1 is not a token of the 4-token sequence}}
  %y = netspec.take_token %x index(-1) : tensor<?x4x6xf32>
  netspec.output %y : tensor<?x6xf32>
}

// -----

// dense_c3 on a token sequence: the features are the last axis.
netspec.model @negative_dense_tokens {
  %x = netspec.input : tensor<?x4x6xf32>
  %w = netspec.param "w" init(he_normal) : tensor<4x2xf32>
  // expected-error @+1 {{'netspec.dense' op input has 6 features but the weight expects 4 (weight 'tensor<4x2xf32>' is [in, out])}}
  %y = netspec.dense %x, %w activation(identity) : tensor<?x4x6xf32>, tensor<4x2xf32>
  netspec.output %y : tensor<?x4x2xf32>
}
