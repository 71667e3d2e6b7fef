// squeeze_excite: the gate's forward pass and the product rule in its VJP
// (cpu forms: NHWC inside the rule).
// RUN: lean-mlir-opt --allow-unregistered-dialect %s \
// RUN:   --netspec-to-stablehlo="batch-size=2 functions=value_and_grad target=cpu" \
// RUN:   | iree-opt | FileCheck %s

// CHECK-LABEL: func.func @value_and_grad
// The squeeze: a staged sum over W then H, times 1 / 25.
// CHECK:       stablehlo.reduce({{.*}}) applies stablehlo.add across dimensions = [2] : (tensor<2x5x5x6xf32>
// CHECK:       stablehlo.reduce({{.*}}) applies stablehlo.add across dimensions = [1] : (tensor<2x5x6xf32>
// CHECK:       %[[GATE:.*]] = stablehlo.logistic %{{.*}} : tensor<2x6xf32>
// CHECK:       %[[B:.*]] = stablehlo.broadcast_in_dim %[[GATE]], dims = [0, 3] : (tensor<2x6xf32>) -> tensor<2x5x5x6xf32>
// CHECK:       stablehlo.multiply %{{.*}}, %[[B]] : tensor<2x5x5x6xf32>
// The VJP recomputes the gate (the compiler's CSE shares it with the forward's).
// CHECK:       %[[G2:.*]] = stablehlo.logistic %{{.*}} : tensor<2x6xf32>
// The product rule: the cotangent times x, summed over H and W, through sigmoid.
// CHECK:       %[[GX:.*]] = stablehlo.multiply %{{.*}}, %{{.*}} : tensor<2x5x5x6xf32>
// CHECK:       stablehlo.reduce(%[[GX]] {{.*}} across dimensions = [2]
// CHECK:       %[[ONE_MINUS:.*]] = stablehlo.subtract %{{.*}}, %[[G2]] : tensor<2x6xf32>
// CHECK:       stablehlo.multiply %[[G2]], %[[ONE_MINUS]] : tensor<2x6xf32>
// The direct path: the cotangent times the gate, plus the squeeze's VJP.
// CHECK:       %[[BG:.*]] = stablehlo.broadcast_in_dim %[[G2]], dims = [0, 3] : (tensor<2x6xf32>) -> tensor<2x5x5x6xf32>
// CHECK:       stablehlo.multiply %{{.*}}, %[[BG]] : tensor<2x5x5x6xf32>
// CHECK:       return
netspec.model @se {
  %x = netspec.input : tensor<?x6x5x5xf32>
  %cw = netspec.param "c.weight" init(he_normal) : tensor<6x6x1x1xf32>
  %c = netspec.conv2d %x, %cw stride(1) padding(same) activation(identity)
      : tensor<?x6x5x5xf32>, tensor<6x6x1x1xf32>
  %w1 = netspec.param "se.fc1.weight" init(he_normal) : tensor<2x6x1x1xf32>
  %b1 = netspec.param "se.fc1.bias" init(zeros) : tensor<2xf32>
  %w2 = netspec.param "se.fc2.weight" init(he_normal) : tensor<6x2x1x1xf32>
  %b2 = netspec.param "se.fc2.bias" init(zeros) : tensor<6xf32>
  %y = netspec.squeeze_excite %c, %w1, %b1, %w2, %b2 activation(silu)
      : tensor<?x6x5x5xf32>, tensor<2x6x1x1xf32>, tensor<2xf32>, tensor<6x2x1x1xf32>, tensor<6xf32>
  %f = netspec.flatten %y : tensor<?x6x5x5xf32>
  %dw = netspec.param "d.weight" init(he_normal) : tensor<150x2xf32>
  %db = netspec.param "d.bias" init(zeros) : tensor<2xf32>
  %o = netspec.dense %f, %dw, %db activation(identity) : tensor<?x150xf32>, tensor<150x2xf32>, tensor<2xf32>
  netspec.output %o : tensor<?x2xf32>
}
