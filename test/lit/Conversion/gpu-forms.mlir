// target=gpu: the cpu forms with the long contractions split. The weight
// gradient is one product of each sample's im2col rows, batched over N, then
// summed over N; a dense layer with more than 1024 inputs is contracted in
// chunks (here 1152 = 2 x 576); per-channel sums are staged, as on every
// target; all gradients pass one barrier before the momentum updates.
// RUN: lean-mlir-opt --allow-unregistered-dialect %s \
// RUN:   --netspec-to-stablehlo="batch-size=2 functions=train_step target=gpu momentum=0.9" \
// RUN:   | iree-opt | FileCheck %s

// CHECK-LABEL: func.func @train_step
// CHECK-SAME:  %[[W:[^:]*]]: tensor<32x2x3x3xf32> {netspec.role = "param:c.weight"}
// CHECK:       %[[HWIO:.*]] = stablehlo.transpose %[[W]], dims = [2, 3, 1, 0]
// CHECK:       %[[F:.*]] = stablehlo.optimization_barrier %[[HWIO]] : tensor<3x3x2x32xf32>
// CHECK:       stablehlo.convolution(%{{.*}}, %[[F]]) dim_numbers = [b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f]
// Dense 1152 -> 3 in two chunks of 576, batched over the chunks, then summed.
// CHECK:       %[[XC:.*]] = stablehlo.reshape %{{.*}} : (tensor<2x1152xf32>) -> tensor<2x2x576xf32>
// CHECK:       %[[WC:.*]] = stablehlo.reshape %{{.*}} : (tensor<1152x3xf32>) -> tensor<2x576x3xf32>
// CHECK:       %[[P:.*]] = stablehlo.dot_general %[[XC]], %[[WC]], batching_dims = [1] x [0], contracting_dims = [2] x [1] : (tensor<2x2x576xf32>, tensor<2x576x3xf32>) -> tensor<2x2x3xf32>
// CHECK:       stablehlo.reduce(%[[P]] init: %{{.*}}) applies stablehlo.add across dimensions = [0] : (tensor<2x2x3xf32>, tensor<f32>) -> tensor<2x3xf32>
// Conv bias gradient, staged over W, H, then N.
// CHECK:       %[[B0:.*]] = stablehlo.reduce(%{{.*}} init: %{{.*}}) applies stablehlo.add across dimensions = [2] : (tensor<2x6x6x32xf32>, tensor<f32>) -> tensor<2x6x32xf32>
// CHECK:       %[[B1:.*]] = stablehlo.reduce(%[[B0]] init: %{{.*}}) applies stablehlo.add across dimensions = [1] : (tensor<2x6x32xf32>, tensor<f32>) -> tensor<2x32xf32>
// CHECK:       %[[DB:.*]] = stablehlo.reduce(%[[B1]] init: %{{.*}}) applies stablehlo.add across dimensions = [0] : (tensor<2x32xf32>, tensor<f32>) -> tensor<32xf32>
// Weight gradient: the nine taps side by side ([N, Ho, Wo, 9 C]), one
// product batched over N, summed over N, laid out OIHW.
// CHECK:       %[[COLS:.*]] = stablehlo.concatenate {{.*}} dim = 3 : {{.*}} -> tensor<2x6x6x18xf32>
// CHECK:       %[[PS:.*]] = stablehlo.dot_general %[[COLS]], %{{.*}}, batching_dims = [0] x [0], contracting_dims = [1, 2] x [1, 2] : (tensor<2x6x6x18xf32>, tensor<2x6x6x32xf32>) -> tensor<2x18x32xf32>
// CHECK:       stablehlo.reduce(%[[PS]] init: %{{.*}}) applies stablehlo.add across dimensions = [0] : (tensor<2x18x32xf32>, tensor<f32>) -> tensor<18x32xf32>
// CHECK:       %[[DW:.*]] = stablehlo.transpose %{{.*}}, dims = [3, 2, 0, 1] : (tensor<3x3x2x32xf32>) -> tensor<32x2x3x3xf32>
// One barrier over the four gradients, then the updates.
// CHECK:       %[[G:.*]]:4 = stablehlo.optimization_barrier %[[DW]], %[[DB]], %{{.*}}, %{{.*}} :
// CHECK-NOT:   stablehlo.optimization_barrier
// CHECK:       stablehlo.multiply %{{.*}}, %{{.*}}
// CHECK:       stablehlo.add %{{.*}}, %[[G]]#0 : tensor<32x2x3x3xf32>
// CHECK:       return
netspec.model @gpu {
  %x = netspec.input : tensor<?x2x6x6xf32>
  %w = netspec.param "c.weight" init(he_normal) : tensor<32x2x3x3xf32>
  %b = netspec.param "c.bias" init(zeros) : tensor<32xf32>
  %h = netspec.conv2d %x, %w, %b stride(1) padding(same) activation(relu)
      : tensor<?x2x6x6xf32>, tensor<32x2x3x3xf32>, tensor<32xf32>
  %f = netspec.flatten %h : tensor<?x32x6x6xf32>
  %w2 = netspec.param "dense_0.weight" init(he_normal) : tensor<1152x3xf32>
  %b2 = netspec.param "dense_0.bias" init(zeros) : tensor<3xf32>
  %y = netspec.dense %f, %w2, %b2 activation(identity)
      : tensor<?x1152xf32>, tensor<1152x3xf32>, tensor<3xf32>
  netspec.output %y : tensor<?x3xf32>
}
