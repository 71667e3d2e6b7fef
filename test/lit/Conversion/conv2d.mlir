// conv2d: forward lowering and VJP. StableHLO's own verifier (iree-opt)
// checks what we emit; the checks read its pretty form.
// RUN: lean-mlir-opt --allow-unregistered-dialect %s --split-input-file \
// RUN:   --netspec-to-stablehlo="batch-size=2 functions=value_and_grad" \
// RUN:   | iree-opt --split-input-file | FileCheck %s

// CHECK-LABEL: func.func @value_and_grad
// CHECK-SAME:  (%[[W:.*]]: tensor<3x2x3x3xf32> {netspec.role = "param:c.weight"}, %[[B:.*]]: tensor<3xf32> {netspec.role = "param:c.bias"}, %[[X:.*]]: tensor<2x2x7x7xf32> {netspec.role = "images"}, %[[Y:.*]]: tensor<2xi32> {netspec.role = "labels"})
// Forward: NCHW x OIHW, 'same' with stride 2 pads (1, 1); bias; ReLU.
// CHECK:       %[[CONV:.*]] = stablehlo.convolution(%[[X]], %[[W]]) dim_numbers = [b, f, 0, 1]x[o, i, 0, 1]->[b, f, 0, 1], window = {stride = [2, 2], pad = {{\[}}[1, 1], [1, 1]], lhs_dilate = [1, 1], rhs_dilate = [1, 1]}
// CHECK:       %[[BB:.*]] = stablehlo.broadcast_in_dim %[[B]], dims = [1] : (tensor<3xf32>) -> tensor<2x3x4x4xf32>
// CHECK:       %[[PRE:.*]] = stablehlo.add %[[CONV]], %[[BB]]
// CHECK:       %[[OUT:.*]] = stablehlo.maximum %[[PRE]], %{{.*}} : tensor<2x3x4x4xf32>
// Backward: ReLU masks by its output.
// CHECK:       %[[POS:.*]] = stablehlo.compare GT, %[[OUT]], %[[ZERO:.*]] :
// CHECK:       %[[G:.*]] = stablehlo.select %[[POS]], %{{.*}}, %[[ZERO]]
// Bias gradient: summed over space and batch, one dimension at a time,
// innermost first (a staged sum: its float32 error does not grow with N*H*W).
// CHECK:       %[[DB0:.*]] = stablehlo.reduce(%[[G]] init: %{{.*}}) applies stablehlo.add across dimensions = [3] : (tensor<2x3x4x4xf32>, tensor<f32>) -> tensor<2x3x4xf32>
// CHECK:       %[[DB1:.*]] = stablehlo.reduce(%[[DB0]] init: %{{.*}}) applies stablehlo.add across dimensions = [2] : (tensor<2x3x4xf32>, tensor<f32>) -> tensor<2x3xf32>
// CHECK:       %[[DB:.*]] = stablehlo.reduce(%[[DB1]] init: %{{.*}}) applies stablehlo.add across dimensions = [0] : (tensor<2x3xf32>, tensor<f32>) -> tensor<3xf32>
// Weight gradient: the input convolved with the upstream gradient, dilated by the stride.
// CHECK:       %[[DW:.*]] = stablehlo.convolution(%[[X]], %[[G]]) dim_numbers = [f, b, 0, 1]x[i, o, 0, 1]->[f, b, 0, 1], window = {stride = [1, 1], pad = {{\[}}[1, 1], [1, 1]], lhs_dilate = [1, 1], rhs_dilate = [2, 2]}
// CHECK-SAME:  -> tensor<3x2x3x3xf32>
// The model input needs no gradient.
// CHECK-NOT:   stablehlo.reverse
// CHECK:       return %{{.*}}, %[[DW]], %[[DB]]
netspec.model @conv {
  %x = netspec.input : tensor<?x2x7x7xf32>
  %w = netspec.param "c.weight" init(he_normal) : tensor<3x2x3x3xf32>
  %b = netspec.param "c.bias" init(zeros) : tensor<3xf32>
  %y = netspec.conv2d %x, %w, %b stride(2) padding(same) activation(relu)
      : tensor<?x2x7x7xf32>, tensor<3x2x3x3xf32>, tensor<3xf32>
  %f = netspec.flatten %y : tensor<?x3x4x4xf32>
  netspec.output %f : tensor<?x48xf32>
}

// -----

// The input gradient of the second convolution: the upstream gradient,
// dilated by the stride, convolved with the kernel reversed on both spatial
// axes and read with its channel axes swapped ([i, o, 0, 1] on OIHW).
// CHECK-LABEL: func.func @value_and_grad
// CHECK-SAME:  %[[W1:[^:]*]]: tensor<4x3x3x3xf32> {netspec.role = "param:conv2d_1.weight"}
// CHECK:       %[[REV:.*]] = stablehlo.reverse %[[W1]], dims = [2, 3] : tensor<4x3x3x3xf32>
// CHECK:       stablehlo.convolution(%{{.*}}, %[[REV]]) dim_numbers = [b, f, 0, 1]x[i, o, 0, 1]->[b, f, 0, 1], window = {stride = [1, 1], pad = {{\[}}[2, 2], [2, 2]], lhs_dilate = [2, 2], rhs_dilate = [1, 1]}
// CHECK-SAME:  (tensor<2x4x2x2xf32>, tensor<4x3x3x3xf32>) -> tensor<2x3x5x5xf32>
netspec.model @two_convs {
  %x = netspec.input : tensor<?x1x5x5xf32>
  %w0 = netspec.param "conv2d_0.weight" init(he_normal) : tensor<3x1x1x1xf32>
  %b0 = netspec.param "conv2d_0.bias" init(zeros) : tensor<3xf32>
  %h = netspec.conv2d %x, %w0, %b0 stride(1) padding(valid) activation(relu)
      : tensor<?x1x5x5xf32>, tensor<3x1x1x1xf32>, tensor<3xf32>
  %w1 = netspec.param "conv2d_1.weight" init(he_normal) : tensor<4x3x3x3xf32>
  %b1 = netspec.param "conv2d_1.bias" init(zeros) : tensor<4xf32>
  %y = netspec.conv2d %h, %w1, %b1 stride(2) padding(valid) activation(identity)
      : tensor<?x3x5x5xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>
  %f = netspec.flatten %y : tensor<?x4x2x2xf32>
  netspec.output %f : tensor<?x16xf32>
}

// -----

// Rows no window reads (7 = 5 + 2, stride 3: one output) are sliced off
// before the forward and weight-gradient convolutions.
// CHECK-LABEL: func.func @value_and_grad
// CHECK:       %[[XS:.*]] = stablehlo.slice %{{.*}} [0:2, 0:1, 0:5, 0:5] : (tensor<2x1x7x7xf32>) -> tensor<2x1x5x5xf32>
// CHECK:       stablehlo.convolution(%[[XS]], %{{.*}}) dim_numbers = [b, f, 0, 1]x[o, i, 0, 1]->[b, f, 0, 1], window = {stride = [3, 3], pad = {{\[}}[0, 0], [0, 0]]
// CHECK:       stablehlo.convolution(%{{.*}}, %{{.*}}) dim_numbers = [f, b, 0, 1]x[i, o, 0, 1]->[f, b, 0, 1], window = {stride = [1, 1], pad = {{\[}}[0, 0], [0, 0]], lhs_dilate = [1, 1], rhs_dilate = [3, 3]}
// CHECK-SAME:  -> tensor<2x1x5x5xf32>
netspec.model @leftover_rows {
  %x = netspec.input : tensor<?x1x7x7xf32>
  %w = netspec.param "w" init(he_normal) : tensor<2x1x5x5xf32>
  %b = netspec.param "b" init(zeros) : tensor<2xf32>
  %y = netspec.conv2d %x, %w, %b stride(3) padding(valid) activation(identity)
      : tensor<?x1x7x7xf32>, tensor<2x1x5x5xf32>, tensor<2xf32>
  %f = netspec.flatten %y : tensor<?x2x1x1xf32>
  netspec.output %f : tensor<?x2xf32>
}

// -----

// Explicit, uneven padding (PyTorch's padding= as four counts): the forward
// convolution pads [top, bottom] x [left, right]; tanh's VJP reads its output.
// CHECK-LABEL: func.func @value_and_grad
// CHECK:       %[[Y:.*]] = stablehlo.convolution(%{{.*}}, %{{.*}}) dim_numbers = [b, f, 0, 1]x[o, i, 0, 1]->[b, f, 0, 1], window = {stride = [2, 2], pad = {{\[}}[1, 1], [0, 2]], lhs_dilate = [1, 1], rhs_dilate = [1, 1]}
// CHECK-SAME:  (tensor<2x2x7x7xf32>, tensor<3x2x3x3xf32>) -> tensor<2x3x4x4xf32>
// CHECK:       %[[T:.*]] = stablehlo.tanh %[[Y]] : tensor<2x3x4x4xf32>
// CHECK:       stablehlo.multiply %[[T]], %[[T]] : tensor<2x3x4x4xf32>
netspec.model @explicit_padding_tanh {
  %x = netspec.input : tensor<?x2x7x7xf32>
  %w = netspec.param "c.weight" init(he_normal) : tensor<3x2x3x3xf32>
  %y = netspec.conv2d %x, %w stride(2) padding(explicit) pads([1, 1, 0, 2]) activation(tanh)
      : tensor<?x2x7x7xf32>, tensor<3x2x3x3xf32>
  %f = netspec.flatten %y : tensor<?x3x4x4xf32>
  netspec.output %f : tensor<?x48xf32>
}
