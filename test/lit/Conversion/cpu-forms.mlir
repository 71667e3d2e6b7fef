// target=cpu: the forms IREE's CPU backend runs fast. Signatures keep the
// user's layouts (NCHW input, OIHW weights); inside, activations are NHWC,
// filters are re-laid out once, at the function's start, behind optimization
// barriers, weight gradients are one dot_general per kernel tap. StableHLO's
// verifier (iree-opt) checks it.
// RUN: lean-mlir-opt --allow-unregistered-dialect %s --split-input-file \
// RUN:   --netspec-to-stablehlo="batch-size=2 functions=value_and_grad target=cpu" \
// RUN:   | iree-opt --split-input-file | FileCheck %s
// The generic forms of the same models have no layout conversions at all.
// RUN: lean-mlir-opt --allow-unregistered-dialect %s --split-input-file \
// RUN:   --netspec-to-stablehlo="batch-size=2 functions=value_and_grad" \
// RUN:   | FileCheck %s --check-prefix=GENERIC
// GENERIC-NOT: stablehlo.transpose
// GENERIC-NOT: stablehlo.optimization_barrier

// CHECK-LABEL: func.func @value_and_grad
// CHECK-SAME:  %[[W1:[^:]*]]: tensor<5x4x3x3xf32> {netspec.role = "param:conv2d_1.weight"}
// CHECK-SAME:  %[[X:[^:]*]]: tensor<2x1x6x6xf32>
// Every filter re-layout comes first, each behind its barrier: they depend
// on the parameters alone. The first layer's filter as [kh * kw, O] rows:
// CHECK:       %[[ROWS:.*]] = stablehlo.optimization_barrier %{{.*}} : tensor<9x4xf32>
// OIHW -> HWIO for the forward convolution:
// CHECK:       %[[HWIO:.*]] = stablehlo.transpose %[[W1]], dims = [2, 3, 1, 0] : (tensor<5x4x3x3xf32>) -> tensor<3x3x4x5xf32>
// CHECK:       %[[F:.*]] = stablehlo.optimization_barrier %[[HWIO]]
// and, for the input gradient, the filter reversed and laid out [kh, kw, O, C].
// CHECK:       %[[REV:.*]] = stablehlo.reverse %[[W1]], dims = [2, 3]
// CHECK:       %[[T:.*]] = stablehlo.transpose %[[REV]], dims = [2, 3, 0, 1] : (tensor<5x4x3x3xf32>) -> tensor<3x3x5x4xf32>
// CHECK:       %[[RF:.*]] = stablehlo.optimization_barrier %[[T]]
// CHECK-NOT:   stablehlo.optimization_barrier
// The input goes channels-last once.
// CHECK:       stablehlo.transpose %[[X]], dims = [0, 2, 3, 1]
// One input channel: nine broadcast multiply-adds, no convolution.
// CHECK-COUNT-9: stablehlo.multiply %{{.*}} : tensor<2x6x6x4xf32>
// CHECK:       %[[H:.*]] = stablehlo.maximum %{{.*}} : tensor<2x6x6x4xf32>
// CHECK:       stablehlo.convolution(%[[H]], %[[F]]) dim_numbers = [b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f]
// Non-overlapping max-pool: a max over the window axes of a [N, Ho, k, Wo, k, C] view.
// CHECK:       stablehlo.reshape %{{.*}} : (tensor<2x6x6x5xf32>) -> tensor<2x3x2x3x2x5xf32>
// CHECK:       stablehlo.reduce(%{{.*}} init: %{{.*}}) applies stablehlo.maximum across dimensions = [2, 4] : (tensor<2x3x2x3x2x5xf32>, tensor<f32>) -> tensor<2x3x3x5xf32>
// Back to NCHW for the flatten: the one conversion the forward pass keeps.
// CHECK:       stablehlo.transpose %{{.*}}, dims = [0, 3, 1, 2] : (tensor<2x3x3x5xf32>) -> tensor<2x5x3x3xf32>
// Max-pool backward: the first maximum of each window, on a [N, Ho, k, Wo, k, C] view.
// CHECK:       stablehlo.reduce(%{{.*}} init: %{{.*}}) applies stablehlo.minimum across dimensions = [2, 4] : (tensor<2x3x2x3x2x5xi32>, tensor<i32>) -> tensor<2x3x3x5xi32>
// Bias gradient: a per-channel sum, staged over W, H, then N.
// CHECK:       %[[B0:.*]] = stablehlo.reduce(%{{.*}} init: %{{.*}}) applies stablehlo.add across dimensions = [2] : (tensor<2x6x6x5xf32>, tensor<f32>) -> tensor<2x6x5xf32>
// CHECK:       %[[B1:.*]] = stablehlo.reduce(%[[B0]] init: %{{.*}}) applies stablehlo.add across dimensions = [1] : (tensor<2x6x5xf32>, tensor<f32>) -> tensor<2x5xf32>
// CHECK:       stablehlo.reduce(%[[B1]] init: %{{.*}}) applies stablehlo.add across dimensions = [0] : (tensor<2x5xf32>, tensor<f32>) -> tensor<5xf32>
// Weight gradient: one [C, O] product per kernel tap (the tap on the left,
// g read in place), assembled as OIHW.
// CHECK-COUNT-9: stablehlo.dot_general %{{.*}}, %{{.*}}, contracting_dims = [0, 1, 2] x [0, 1, 2] : (tensor<2x6x6x4xf32>, tensor<2x6x6x5xf32>) -> tensor<4x5xf32>
// CHECK:       stablehlo.concatenate
// CHECK:       %[[CO:.*]] = stablehlo.reshape %{{.*}} : (tensor<4x5x9xf32>) -> tensor<4x5x3x3xf32>
// CHECK:       %[[DW1:.*]] = stablehlo.transpose %[[CO]], dims = [1, 0, 2, 3] : (tensor<4x5x3x3xf32>) -> tensor<5x4x3x3xf32>
// Input gradient: an NHWC convolution with the hoisted filter.
// CHECK:       stablehlo.convolution(%{{.*}}, %[[RF]]) dim_numbers = [b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f]
// No conversion back to NCHW between the two convolutions' gradients.
// CHECK-NOT:   dims = [0, 3, 1, 2]
// CHECK:       return %{{.*}}, %{{.*}}, %{{.*}}, %[[DW1]],
netspec.model @small {
  %x = netspec.input : tensor<?x1x6x6xf32>
  %w0 = netspec.param "conv2d_0.weight" init(he_normal) : tensor<4x1x3x3xf32>
  %b0 = netspec.param "conv2d_0.bias" init(zeros) : tensor<4xf32>
  %h = netspec.conv2d %x, %w0, %b0 stride(1) padding(same) activation(relu)
      : tensor<?x1x6x6xf32>, tensor<4x1x3x3xf32>, tensor<4xf32>
  %w1 = netspec.param "conv2d_1.weight" init(he_normal) : tensor<5x4x3x3xf32>
  %b1 = netspec.param "conv2d_1.bias" init(zeros) : tensor<5xf32>
  %c = netspec.conv2d %h, %w1, %b1 stride(1) padding(same) activation(relu)
      : tensor<?x4x6x6xf32>, tensor<5x4x3x3xf32>, tensor<5xf32>
  %p = netspec.max_pool2d %c window(2) stride(2) : tensor<?x5x6x6xf32>
  %f = netspec.flatten %p : tensor<?x5x3x3xf32>
  %w2 = netspec.param "dense_0.weight" init(he_normal) : tensor<45x2xf32>
  %b2 = netspec.param "dense_0.bias" init(zeros) : tensor<2xf32>
  %y = netspec.dense %f, %w2, %b2 activation(identity)
      : tensor<?x45xf32>, tensor<45x2xf32>, tensor<2xf32>
  netspec.output %y : tensor<?x2xf32>
}

// -----

// Overlapping windows (stride < window) keep the per-offset masks, channels-last:
// strided slices on H and W (dimensions 1 and 2), no min-reduction.
// CHECK-LABEL: func.func @value_and_grad
// CHECK:       "stablehlo.reduce_window"
// CHECK-SAME:  window_dimensions = array<i64: 1, 3, 3, 1>, window_strides = array<i64: 1, 2, 2, 1>
// CHECK-NOT:   stablehlo.minimum
// CHECK-COUNT-9: stablehlo.slice %{{.*}} [0:2, {{[0-9]+}}:{{[0-9]+}}:2, {{[0-9]+}}:{{[0-9]+}}:2, 0:3]
// CHECK:       return
netspec.model @overlap {
  %x = netspec.input : tensor<?x2x7x7xf32>
  %w = netspec.param "c.weight" init(he_normal) : tensor<3x2x3x3xf32>
  %b = netspec.param "c.bias" init(zeros) : tensor<3xf32>
  %h = netspec.conv2d %x, %w, %b stride(1) padding(same) activation(identity)
      : tensor<?x2x7x7xf32>, tensor<3x2x3x3xf32>, tensor<3xf32>
  %p = netspec.max_pool2d %h window(3) stride(2) : tensor<?x3x7x7xf32>
  %f = netspec.flatten %p : tensor<?x3x3x3xf32>
  netspec.output %f : tensor<?x27xf32>
}
