// Grouped and depthwise conv2d: the generic forms as single convolutions
// with feature groups (forward, input gradient) and batch groups (weight
// gradient); the cpu forms' NHWC convolutions with feature groups and the
// weight gradient per tap, one product batched over the groups (a depthwise
// layer's taps are per-channel sums instead).
// RUN: lean-mlir-opt --allow-unregistered-dialect %s \
// RUN:   --netspec-to-stablehlo="batch-size=2 functions=value_and_grad target=generic" \
// RUN:   | iree-opt | FileCheck %s --check-prefix=GENERIC
// RUN: lean-mlir-opt --allow-unregistered-dialect %s \
// RUN:   --netspec-to-stablehlo="batch-size=2 functions=value_and_grad target=cpu" \
// RUN:   | iree-opt | FileCheck %s --check-prefix=CPU

// GENERIC-LABEL: func.func @value_and_grad
// GENERIC:       stablehlo.convolution(%arg4, %arg0) dim_numbers = [b, f, 0, 1]x[o, i, 0, 1]->[b, f, 0, 1]{{.*}}feature_group_count = 2
// GENERIC:       stablehlo.convolution({{.*}}, %arg1) dim_numbers = [b, f, 0, 1]x[o, i, 0, 1]->[b, f, 0, 1]{{.*}}feature_group_count = 6
// The depthwise layer's weight gradient: six batch groups, one filter each.
// GENERIC:       stablehlo.convolution{{.*}}[f, b, 0, 1]x[i, o, 0, 1]->[f, b, 0, 1]{{.*}}batch_group_count = 6 : i64, feature_group_count = 1{{.*}} -> tensor<6x1x3x3xf32>
// Its input gradient: the reversed filter, six feature groups.
// GENERIC:       stablehlo.convolution{{.*}}[b, f, 0, 1]x[i, o, 0, 1]->[b, f, 0, 1]{{.*}}lhs_dilate = [2, 2]{{.*}}feature_group_count = 6{{.*}} -> tensor<2x6x6x6xf32>
// GENERIC:       stablehlo.convolution(%arg4, {{.*}}[f, b, 0, 1]x[i, o, 0, 1]->[f, b, 0, 1]{{.*}}batch_group_count = 2 : i64, feature_group_count = 1{{.*}} -> tensor<6x2x3x3xf32>

// CPU-LABEL:     func.func @value_and_grad
// CPU:           stablehlo.convolution{{.*}}[b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f]{{.*}}feature_group_count = 2
// CPU:           stablehlo.convolution{{.*}}[b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f]{{.*}}feature_group_count = 6
// CPU:           stablehlo.convolution{{.*}}[b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f]{{.*}}lhs_dilate = [2, 2]{{.*}}feature_group_count = 6
// CPU-NOT:       batching_dims = [3] x [3]{{.*}}tensor<2x3x3x6x1xf32>
// CPU-COUNT-9:   stablehlo.dot_general {{.*}}, batching_dims = [3] x [3], contracting_dims = [0, 1, 2] x [0, 1, 2] : (tensor<2x6x6x2x2xf32>, tensor<2x6x6x2x3xf32>) -> tensor<2x2x3xf32>
// CPU:           return
netspec.model @grouped {
  %x = netspec.input : tensor<?x4x6x6xf32>
  %w = netspec.param "g.weight" init(he_normal) : tensor<6x2x3x3xf32>
  %y = netspec.conv2d %x, %w stride(1) groups(2) padding(same) activation(identity)
      : tensor<?x4x6x6xf32>, tensor<6x2x3x3xf32>
  %dw = netspec.param "dw.weight" init(he_normal) : tensor<6x1x3x3xf32>
  %z = netspec.conv2d %y, %dw stride(2) groups(6) padding(same) activation(identity)
      : tensor<?x6x6x6xf32>, tensor<6x1x3x3xf32>
  %f = netspec.flatten %z : tensor<?x6x3x3xf32>
  %lw = netspec.param "d.weight" init(he_normal) : tensor<54x2xf32>
  %lb = netspec.param "d.bias" init(zeros) : tensor<2xf32>
  %o = netspec.dense %f, %lw, %lb activation(identity) : tensor<?x54xf32>, tensor<54x2xf32>, tensor<2xf32>
  netspec.output %o : tensor<?x2xf32>
}
