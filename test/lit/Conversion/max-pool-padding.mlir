// max_pool2d with padding (ResNet's stem: 3x3, stride 2, padding 1): the
// input padded by -inf, pooled, and the VJP's cotangent sliced back to the
// input, in the generic and the cpu forms (a convolution before it needs
// that cotangent).
// RUN: lean-mlir-opt --allow-unregistered-dialect %s \
// RUN:   --netspec-to-stablehlo="batch-size=2 functions=value_and_grad target=generic" \
// RUN:   | iree-opt | FileCheck %s --check-prefix=GENERIC
// RUN: lean-mlir-opt --allow-unregistered-dialect %s \
// RUN:   --netspec-to-stablehlo="batch-size=2 functions=value_and_grad target=cpu" \
// RUN:   | iree-opt | FileCheck %s --check-prefix=CPU
// RUN: lean-mlir-opt %s | FileCheck %s --check-prefix=PRINT

// PRINT:         netspec.max_pool2d %{{.*}} window(3) stride(2) padding(1) : tensor<?x2x6x6xf32>

// GENERIC-LABEL: func.func @value_and_grad
// GENERIC:       %[[NEG:.*]] = stablehlo.constant dense<0xFF800000> : tensor<f32>
// GENERIC:       %[[XP:.*]] = stablehlo.pad %{{.*}}, %[[NEG]], low = [0, 0, 1, 1], high = [0, 0, 1, 1], interior = [0, 0, 0, 0] : (tensor<2x2x6x6xf32>, tensor<f32>) -> tensor<2x2x8x8xf32>
// GENERIC:       "stablehlo.reduce_window"(%[[XP]], %{{.*}}) <{window_dimensions = array<i64: 1, 1, 3, 3>, window_strides = array<i64: 1, 1, 2, 2>}>
// GENERIC:       stablehlo.slice %{{.*}} [0:2, 0:2, 1:7, 1:7] : (tensor<2x2x8x8xf32>) -> tensor<2x2x6x6xf32>

// CPU-LABEL:     func.func @value_and_grad
// CPU:           stablehlo.pad {{.*}}, low = [0, 1, 1, 0], high = [0, 1, 1, 0], interior = [0, 0, 0, 0] : (tensor<2x6x6x2xf32>, tensor<f32>) -> tensor<2x8x8x2xf32>
// CPU:           stablehlo.slice %{{.*}} [0:2, 1:7, 1:7, 0:2] : (tensor<2x8x8x2xf32>) -> tensor<2x6x6x2xf32>
netspec.model @padded_pool {
  %x = netspec.input : tensor<?x2x6x6xf32>
  %cw = netspec.param "c.weight" init(he_normal) : tensor<2x2x1x1xf32>
  %c = netspec.conv2d %x, %cw stride(1) padding(same) activation(identity)
      : tensor<?x2x6x6xf32>, tensor<2x2x1x1xf32>
  %p = netspec.max_pool2d %c window(3) stride(2) padding(1) : tensor<?x2x6x6xf32>
  %f = netspec.flatten %p : tensor<?x2x3x3xf32>
  %w = netspec.param "d.weight" init(he_normal) : tensor<18x2xf32>
  %b = netspec.param "d.bias" init(zeros) : tensor<2xf32>
  %y = netspec.dense %f, %w, %b activation(identity) : tensor<?x18xf32>, tensor<18x2xf32>, tensor<2xf32>
  netspec.output %y : tensor<?x2xf32>
}
