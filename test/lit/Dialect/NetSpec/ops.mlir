// Round-trip of every netspec op, in the custom and in the generic form.
// RUN: lean-mlir-opt %s | lean-mlir-opt | FileCheck %s
// RUN: lean-mlir-opt %s --mlir-print-op-generic | lean-mlir-opt | FileCheck %s

// CHECK-LABEL: netspec.model @conv_pool_dense
netspec.model @conv_pool_dense {
  // CHECK: %[[X:.*]] = netspec.input : tensor<?x3x9x9xf32>
  %x = netspec.input : tensor<?x3x9x9xf32>
  // CHECK: %[[W:.*]] = netspec.param "c.weight" init(he_uniform) : tensor<4x3x2x2xf32>
  %w = netspec.param "c.weight" init(he_uniform) : tensor<4x3x2x2xf32>
  // CHECK: %[[B:.*]] = netspec.param "c.bias" init(ones) : tensor<4xf32>
  %b = netspec.param "c.bias" init(ones) : tensor<4xf32>
  // Stride 2, valid: (9 - 2) / 2 + 1 = 4.
  // CHECK: %[[C:.*]] = netspec.conv2d %[[X]], %[[W]], %[[B]] stride(2) padding(valid) activation(identity)
  // CHECK-SAME: : tensor<?x3x9x9xf32>, tensor<4x3x2x2xf32>, tensor<4xf32>
  %c = netspec.conv2d %x, %w, %b stride(2) padding(valid) activation(identity)
      : tensor<?x3x9x9xf32>, tensor<4x3x2x2xf32>, tensor<4xf32>
  // A depthwise convolution without bias: groups printed, one filter per channel.
  // CHECK: %[[DW:.*]] = netspec.param "dw.weight" init(he_normal) : tensor<4x1x3x3xf32>
  %dww = netspec.param "dw.weight" init(he_normal) : tensor<4x1x3x3xf32>
  // CHECK: %[[D:.*]] = netspec.conv2d %[[C]], %[[DW]] stride(1) groups(4) padding(same) activation(gelu)
  // CHECK-SAME: : tensor<?x4x4x4xf32>, tensor<4x1x3x3xf32>
  %dwc = netspec.conv2d %c, %dww stride(1) groups(4) padding(same) activation(gelu)
      : tensor<?x4x4x4xf32>, tensor<4x1x3x3xf32>
  // CHECK: %[[R:.*]] = netspec.relu %[[C]] : tensor<?x4x4x4xf32>
  %r = netspec.relu %c : tensor<?x4x4x4xf32>
  // Overlapping windows: (4 - 3) / 1 + 1 = 2.
  // CHECK: %[[P:.*]] = netspec.max_pool2d %[[R]] window(3) stride(1) : tensor<?x4x4x4xf32>
  %p = netspec.max_pool2d %r window(3) stride(1) : tensor<?x4x4x4xf32>
  // CHECK: %[[F:.*]] = netspec.flatten %[[P]] : tensor<?x4x2x2xf32>
  %f = netspec.flatten %p : tensor<?x4x2x2xf32>
  // CHECK: %[[DW:.*]] = netspec.param "d.weight" init(glorot_uniform) : tensor<16x5xf32>
  %dw = netspec.param "d.weight" init(glorot_uniform) : tensor<16x5xf32>
  %db = netspec.param "d.bias" init(zeros) : tensor<5xf32>
  // CHECK: %[[D:.*]] = netspec.dense %[[F]], %[[DW]], %{{.*}} activation(relu)
  // CHECK-SAME: : tensor<?x16xf32>, tensor<16x5xf32>, tensor<5xf32>
  %d = netspec.dense %f, %dw, %db activation(relu)
      : tensor<?x16xf32>, tensor<16x5xf32>, tensor<5xf32>
  // CHECK: netspec.output %[[D]] : tensor<?x5xf32>
  netspec.output %d : tensor<?x5xf32>
}

// Padding `same` with stride 2 and an even kernel: ceil(7 / 2) = 4 outputs.
// CHECK-LABEL: netspec.model @same_stride2
netspec.model @same_stride2 {
  // A static batch is allowed too.
  %x = netspec.input : tensor<8x1x7x7xf32>
  %w = netspec.param "c.weight" init(he_normal) : tensor<2x1x4x4xf32>
  %b = netspec.param "c.bias" init(zeros) : tensor<2xf32>
  // CHECK: netspec.conv2d {{.*}} stride(2) padding(same) activation(relu)
  %c = netspec.conv2d %x, %w, %b stride(2) padding(same) activation(relu)
      : tensor<8x1x7x7xf32>, tensor<2x1x4x4xf32>, tensor<2xf32>
  %f = netspec.flatten %c : tensor<8x2x4x4xf32>
  // CHECK: netspec.output %{{.*}} : tensor<8x32xf32>
  netspec.output %f : tensor<8x32xf32>
}

// Squeeze-and-excitation keeps its input's type.
// CHECK-LABEL: netspec.model @squeeze_excite
netspec.model @squeeze_excite {
  %x = netspec.input : tensor<?x6x5x5xf32>
  %w1 = netspec.param "se.fc1.weight" init(he_normal) : tensor<2x6x1x1xf32>
  %b1 = netspec.param "se.fc1.bias" init(zeros) : tensor<2xf32>
  %w2 = netspec.param "se.fc2.weight" init(he_normal) : tensor<6x2x1x1xf32>
  %b2 = netspec.param "se.fc2.bias" init(zeros) : tensor<6xf32>
  %s = netspec.param "bn.weight" init(ones) : tensor<6xf32>
  %t = netspec.param "bn.bias" init(zeros) : tensor<6xf32>
  %m = netspec.param "bn.running_mean" init(zeros) non_trainable : tensor<6xf32>
  %v = netspec.param "bn.running_var" init(ones) non_trainable : tensor<6xf32>
  // CHECK: netspec.squeeze_excite %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} activation(silu)
  // CHECK-SAME: : tensor<?x6x5x5xf32>, tensor<2x6x1x1xf32>, tensor<2xf32>, tensor<6x2x1x1xf32>, tensor<6xf32>
  %y = netspec.squeeze_excite %x, %w1, %b1, %w2, %b2 activation(silu)
      : tensor<?x6x5x5xf32>, tensor<2x6x1x1xf32>, tensor<2xf32>, tensor<6x2x1x1xf32>, tensor<6xf32>
  // MobileNetV3's: hardswish, a hardsigmoid gate.
  // CHECK: netspec.squeeze_excite %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} activation(hardswish) hard_gate :
  %z = netspec.squeeze_excite %y, %w1, %b1, %w2, %b2 activation(hardswish) hard_gate
      : tensor<?x6x5x5xf32>, tensor<2x6x1x1xf32>, tensor<2xf32>, tensor<6x2x1x1xf32>, tensor<6xf32>
  // CHECK: activation(hardsigmoid)
  %h = netspec.batch_norm %z, %s, %t, %m, %v epsilon(1.0e-03) momentum(1.0e-02) activation(hardsigmoid)
      : tensor<?x6x5x5xf32>, tensor<6xf32>, tensor<6xf32>, tensor<6xf32>, tensor<6xf32>
  %f = netspec.flatten %h : tensor<?x6x5x5xf32>
  netspec.output %f : tensor<?x150xf32>
}

// Layer norm over each position's channels keeps its input's type.
// CHECK-LABEL: netspec.model @layer_norm
netspec.model @layer_norm {
  %x = netspec.input : tensor<?x6x5x5xf32>
  %w = netspec.param "ln.weight" init(ones) : tensor<6xf32>
  %b = netspec.param "ln.bias" init(zeros) : tensor<6xf32>
  // CHECK: netspec.layer_norm %{{.*}}, %{{.*}}, %{{.*}} epsilon(9.9999999999999995E-7) : tensor<?x6x5x5xf32>, tensor<6xf32>, tensor<6xf32>
  %y = netspec.layer_norm %x, %w, %b epsilon(1.0e-06) : tensor<?x6x5x5xf32>, tensor<6xf32>, tensor<6xf32>
  %f = netspec.flatten %y : tensor<?x6x5x5xf32>
  netspec.output %f : tensor<?x150xf32>
}

// Explicit padding (four counts, PyTorch's padding=) and tanh.
// CHECK-LABEL: netspec.model @explicit_padding
netspec.model @explicit_padding {
  %x = netspec.input : tensor<?x2x7x7xf32>
  %w = netspec.param "c.weight" init(he_normal) : tensor<3x2x3x3xf32>
  // CHECK: netspec.conv2d %{{.*}}, %{{.*}} stride(2) padding(explicit) pads([1, 1, 0, 2]) activation(tanh) : tensor<?x2x7x7xf32>, tensor<3x2x3x3xf32>
  %y = netspec.conv2d %x, %w stride(2) padding(explicit) pads([1, 1, 0, 2]) activation(tanh)
      : tensor<?x2x7x7xf32>, tensor<3x2x3x3xf32>
  %f = netspec.flatten %y : tensor<?x3x4x4xf32>
  netspec.output %f : tensor<?x48xf32>
}

// Average pooling, padded.
// CHECK-LABEL: netspec.model @avg_pool
netspec.model @avg_pool {
  %x = netspec.input : tensor<?x2x7x7xf32>
  // CHECK: netspec.avg_pool2d %{{.*}} window(3) stride(2) padding(1) : tensor<?x2x7x7xf32>
  %y = netspec.avg_pool2d %x window(3) stride(2) padding(1) : tensor<?x2x7x7xf32>
  %f = netspec.flatten %y : tensor<?x2x4x4xf32>
  netspec.output %f : tensor<?x32xf32>
}

// A vision transformer's layers: patches as tokens, a class token, a position
// embedding, dense and layer norm over the tokens' channels, attention of a
// fused qkv, and the class token's output.
// CHECK-LABEL: netspec.model @tokens_and_attention
netspec.model @tokens_and_attention {
  %x = netspec.input : tensor<?x1x8x8xf32>
  %pw = netspec.param "p.weight" init(he_normal) : tensor<6x1x4x4xf32>
  %pb = netspec.param "p.bias" init(zeros) : tensor<6xf32>
  %p = netspec.conv2d %x, %pw, %pb stride(4) padding(valid) activation(identity)
      : tensor<?x1x8x8xf32>, tensor<6x1x4x4xf32>, tensor<6xf32>
  // CHECK: netspec.tokens %{{.*}} : tensor<?x6x2x2xf32>
  %t = netspec.tokens %p : tensor<?x6x2x2xf32>
  %cls = netspec.param "cls.token" init(small_normal) : tensor<1x1x6xf32>
  // CHECK: netspec.class_token %{{.*}}, %{{.*}} : tensor<?x4x6xf32>, tensor<1x1x6xf32>
  %c = netspec.class_token %t, %cls : tensor<?x4x6xf32>, tensor<1x1x6xf32>
  %pos = netspec.param "pos.embedding" init(small_normal) : tensor<1x5x6xf32>
  // CHECK: netspec.position_embedding %{{.*}}, %{{.*}} : tensor<?x5x6xf32>, tensor<1x5x6xf32>
  %e = netspec.position_embedding %c, %pos : tensor<?x5x6xf32>, tensor<1x5x6xf32>
  %lw = netspec.param "n.weight" init(ones) : tensor<6xf32>
  %lb = netspec.param "n.bias" init(zeros) : tensor<6xf32>
  // CHECK: netspec.layer_norm %{{.*}}, %{{.*}}, %{{.*}} epsilon(9.9999999999999995E-7) : tensor<?x5x6xf32>
  %n = netspec.layer_norm %e, %lw, %lb epsilon(1.0e-06) : tensor<?x5x6xf32>, tensor<6xf32>, tensor<6xf32>
  %qw = netspec.param "qkv.weight" init(small_normal) : tensor<6x18xf32>
  %qb = netspec.param "qkv.bias" init(zeros) : tensor<18xf32>
  // CHECK: netspec.dense %{{.*}}, %{{.*}}, %{{.*}} activation(gelu_tanh) : tensor<?x5x6xf32>, tensor<6x18xf32>, tensor<18xf32>
  %qkv = netspec.dense %n, %qw, %qb activation(gelu_tanh) : tensor<?x5x6xf32>, tensor<6x18xf32>, tensor<18xf32>
  // CHECK: netspec.attention %{{.*}} heads(2) : tensor<?x5x18xf32>
  %a = netspec.attention %qkv heads(2) : tensor<?x5x18xf32>
  %s = netspec.add %a, %e : tensor<?x5x6xf32>, tensor<?x5x6xf32>
  // CHECK: netspec.take_token %{{.*}} index(0) : tensor<?x5x6xf32>
  %o = netspec.take_token %s index(0) : tensor<?x5x6xf32>
  netspec.output %o : tensor<?x6xf32>
}

// A dense layer without bias (torch.nn.Linear(bias=False)).
// CHECK-LABEL: netspec.model @dense_without_bias
netspec.model @dense_without_bias {
  %x = netspec.input : tensor<?x6xf32>
  %w = netspec.param "d.weight" init(he_normal) : tensor<6x4xf32>
  // CHECK: netspec.dense %{{.*}}, %{{.*}} activation(hardswish) : tensor<?x6xf32>, tensor<6x4xf32>
  %y = netspec.dense %x, %w activation(hardswish) : tensor<?x6xf32>, tensor<6x4xf32>
  netspec.output %y : tensor<?x4xf32>
}
