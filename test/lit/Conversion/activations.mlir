// relu6, silu and gelu: their forward forms, and VJPs that read the output
// (relu6) or the value before the activation (silu, gelu), which the
// forward pass keeps. sigmoid is silu's logistic alone.
// RUN: lean-mlir-opt --allow-unregistered-dialect %s \
// RUN:   --netspec-to-stablehlo="batch-size=2 functions=value_and_grad" \
// RUN:   | iree-opt | FileCheck %s

// CHECK-LABEL: func.func @value_and_grad
// gelu: z * (1 + erf(z / sqrt 2)) / 2, erf from CHLO.
// CHECK:       %[[Z0:.*]] = stablehlo.add %{{.*}}, %{{.*}} : tensor<2x3xf32>
// CHECK:       %[[S0:.*]] = stablehlo.multiply %[[Z0]], %{{.*}} : tensor<2x3xf32>
// CHECK:       chlo.erf %[[S0]]
// CHECK:       %[[H0:.*]] = stablehlo.multiply %[[Z0]], %{{.*}} : tensor<2x3xf32>
// relu6: min(max(z, 0), 6).
// CHECK:       %[[Z1:.*]] = stablehlo.add %{{.*}}, %{{.*}} : tensor<2x3xf32>
// CHECK:       %[[M1:.*]] = stablehlo.maximum %[[Z1]], %{{.*}}
// CHECK:       %[[H1:.*]] = stablehlo.minimum %[[M1]], %{{.*}}
// silu: z * logistic(z).
// CHECK:       %[[Z2:.*]] = stablehlo.add %{{.*}}, %{{.*}} : tensor<2x2xf32>
// CHECK:       %[[L2:.*]] = stablehlo.logistic %[[Z2]]
// CHECK:       stablehlo.multiply %[[Z2]], %[[L2]]
// silu's VJP: s (1 + z (1 - s)), from z.
// CHECK:       %[[S2:.*]] = stablehlo.logistic %[[Z2]]
// CHECK:       %[[C2:.*]] = stablehlo.subtract %{{.*}}, %[[S2]]
// CHECK:       stablehlo.multiply %[[Z2]], %[[C2]]
// relu6's VJP: the cotangent where 0 < y < 6, from y.
// CHECK:       %[[GT:.*]] = stablehlo.compare GT, %[[H1]], %{{.*}}
// CHECK:       %[[LT:.*]] = stablehlo.compare LT, %[[H1]], %{{.*}}
// CHECK:       %[[IN:.*]] = stablehlo.and %[[GT]], %[[LT]]
// CHECK:       stablehlo.select %[[IN]]
// The next layer's weight gradient reads gelu's output.
// CHECK:       stablehlo.dot_general %[[H0]], %{{.*}}, contracting_dims = [0] x [0]
// gelu's VJP: Phi(z) + z phi(z), phi(z) = exp(-z^2 / 2) / sqrt(2 pi), from z.
// CHECK:       %[[SQ:.*]] = stablehlo.multiply %[[Z0]], %[[Z0]]
// CHECK:       stablehlo.exponential
// CHECK:       chlo.erf
// CHECK:       return
netspec.model @acts {
  %x = netspec.input : tensor<?x4xf32>
  %w0 = netspec.param "d0.weight" init(he_normal) : tensor<4x3xf32>
  %b0 = netspec.param "d0.bias" init(zeros) : tensor<3xf32>
  %h0 = netspec.dense %x, %w0, %b0 activation(gelu) : tensor<?x4xf32>, tensor<4x3xf32>, tensor<3xf32>
  %w1 = netspec.param "d1.weight" init(he_normal) : tensor<3x3xf32>
  %b1 = netspec.param "d1.bias" init(zeros) : tensor<3xf32>
  %h1 = netspec.dense %h0, %w1, %b1 activation(relu6) : tensor<?x3xf32>, tensor<3x3xf32>, tensor<3xf32>
  %w2 = netspec.param "d2.weight" init(he_normal) : tensor<3x2xf32>
  %b2 = netspec.param "d2.bias" init(zeros) : tensor<2xf32>
  %y = netspec.dense %h1, %w2, %b2 activation(silu) : tensor<?x3xf32>, tensor<3x2xf32>, tensor<2xf32>
  netspec.output %y : tensor<?x2xf32>
}
