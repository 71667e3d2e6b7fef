// avg_pool2d: the forward pass sums each window of the zero-padded input and
// scales by 1 / k^2; the VJP puts g / k^2 back at the inputs of every window
// offset (interior padding undoes the stride) and drops the padding's part.
// RUN: lean-mlir-opt --allow-unregistered-dialect %s \
// RUN:   --netspec-to-stablehlo="batch-size=2 functions=value_and_grad" \
// RUN:   | iree-opt | FileCheck %s

// CHECK-LABEL: func.func @value_and_grad
// CHECK:       %[[P:.*]] = stablehlo.pad %[[H:.*]], %{{.*}}, low = [0, 0, 1, 1], high = [0, 0, 1, 1], interior = [0, 0, 0, 0] : (tensor<2x3x5x5xf32>, tensor<f32>) -> tensor<2x3x7x7xf32>
// CHECK:       %[[S:.*]] = "stablehlo.reduce_window"(%[[P]], %{{.*}}) <{window_dimensions = array<i64: 1, 1, 3, 3>, window_strides = array<i64: 1, 1, 2, 2>}>
// CHECK:       stablehlo.add
// CHECK:       stablehlo.multiply %[[S]], %{{.*}} : tensor<2x3x3x3xf32>
// Backward: the share g / 9, then one interior-padded copy per window offset
// (the first at offset (0, 0), the last at (2, 2)), then the padding dropped.
// CHECK:       %[[SHARE:.*]] = stablehlo.multiply %{{.*}}, %{{.*}} : tensor<2x3x3x3xf32>
// CHECK:       stablehlo.pad %[[SHARE]], %{{.*}}, low = [0, 0, 0, 0], high = [0, 0, 2, 2], interior = [0, 0, 1, 1] : (tensor<2x3x3x3xf32>, tensor<f32>) -> tensor<2x3x7x7xf32>
// CHECK:       stablehlo.pad %[[SHARE]], %{{.*}}, low = [0, 0, 2, 2], high = [0, 0, 0, 0], interior = [0, 0, 1, 1]
// CHECK:       stablehlo.slice %{{.*}} [0:2, 0:3, 1:6, 1:6] : (tensor<2x3x7x7xf32>) -> tensor<2x3x5x5xf32>
netspec.model @avg_pool_overlapping {
  %x = netspec.input : tensor<?x1x5x5xf32>
  %w0 = netspec.param "c.weight" init(he_normal) : tensor<3x1x1x1xf32>
  %h = netspec.conv2d %x, %w0 stride(1) padding(valid) activation(identity)
      : tensor<?x1x5x5xf32>, tensor<3x1x1x1xf32>
  %y = netspec.avg_pool2d %h window(3) stride(2) padding(1) : tensor<?x3x5x5xf32>
  %f = netspec.flatten %y : tensor<?x3x3x3xf32>
  %w = netspec.param "d.weight" init(he_normal) : tensor<27x2xf32>
  %b = netspec.param "d.bias" init(zeros) : tensor<2xf32>
  %z = netspec.dense %f, %w, %b activation(identity) : tensor<?x27xf32>, tensor<27x2xf32>, tensor<2xf32>
  netspec.output %z : tensor<?x2xf32>
}
