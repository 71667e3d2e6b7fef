// dense, flatten and relu: forward lowering and VJP.
// RUN: lean-mlir-opt --allow-unregistered-dialect %s \
// RUN:   --netspec-to-stablehlo="batch-size=4 functions=value_and_grad" \
// RUN:   | iree-opt | FileCheck %s

// CHECK-LABEL: func.func @value_and_grad
// CHECK-SAME:  (%[[W0:.*]]: tensor<12x5xf32> {netspec.role = "param:d0.weight"}, %[[B0:.*]]: tensor<5xf32> {netspec.role = "param:d0.bias"}, %[[W1:.*]]: tensor<5x3xf32> {netspec.role = "param:d1.weight"}, %[[B1:.*]]: tensor<3xf32> {netspec.role = "param:d1.bias"}, %[[X:.*]]: tensor<4x3x2x2xf32> {netspec.role = "images"}, %{{.*}}: tensor<4xi32> {netspec.role = "labels"})
// Forward: flatten is a reshape; dense is x @ w + b.
// CHECK:       %[[F:.*]] = stablehlo.reshape %[[X]] : (tensor<4x3x2x2xf32>) -> tensor<4x12xf32>
// CHECK:       %[[M0:.*]] = stablehlo.dot_general %[[F]], %[[W0]], contracting_dims = [1] x [0] : (tensor<4x12xf32>, tensor<12x5xf32>) -> tensor<4x5xf32>
// CHECK:       %[[H:.*]] = stablehlo.add %[[M0]], %{{.*}} : tensor<4x5xf32>
// The standalone relu.
// CHECK:       %[[R:.*]] = stablehlo.maximum %[[H]], %{{.*}} : tensor<4x5xf32>
// CHECK:       %[[M1:.*]] = stablehlo.dot_general %[[R]], %[[W1]], contracting_dims = [1] x [0]
// Backward of the last dense layer (identity): db = sum over the batch,
// dw = x^T g, dx = g w^T.
// CHECK:       %[[DB1:.*]] = stablehlo.reduce(%[[G:.*]] init: %{{.*}}) applies stablehlo.add across dimensions = [0] : (tensor<4x3xf32>, tensor<f32>) -> tensor<3xf32>
// CHECK:       %[[DW1:.*]] = stablehlo.dot_general %[[R]], %[[G]], contracting_dims = [0] x [0] : (tensor<4x5xf32>, tensor<4x3xf32>) -> tensor<5x3xf32>
// CHECK:       %[[DX1:.*]] = stablehlo.dot_general %[[G]], %[[W1]], contracting_dims = [1] x [1] : (tensor<4x3xf32>, tensor<5x3xf32>) -> tensor<4x5xf32>
// relu masks by its output.
// CHECK:       %[[POS:.*]] = stablehlo.compare GT, %[[R]], %{{.*}}
// CHECK:       %[[DH:.*]] = stablehlo.select %[[POS]], %[[DX1]], %{{.*}}
// CHECK:       %[[DW0:.*]] = stablehlo.dot_general %[[F]], %[[DH]], contracting_dims = [0] x [0] : (tensor<4x12xf32>, tensor<4x5xf32>) -> tensor<12x5xf32>
// No cotangent is computed for the model input (flatten's VJP is not needed).
// CHECK-NOT:   stablehlo.reshape {{.*}} -> tensor<4x3x2x2xf32>
// CHECK:       return %{{.*}}, %[[DW0]], %{{.*}}, %[[DW1]], %[[DB1]]
netspec.model @mlp {
  %x = netspec.input : tensor<?x3x2x2xf32>
  %f = netspec.flatten %x : tensor<?x3x2x2xf32>
  %w0 = netspec.param "d0.weight" init(he_normal) : tensor<12x5xf32>
  %b0 = netspec.param "d0.bias" init(zeros) : tensor<5xf32>
  %h = netspec.dense %f, %w0, %b0 activation(identity) : tensor<?x12xf32>, tensor<12x5xf32>, tensor<5xf32>
  %r = netspec.relu %h : tensor<?x5xf32>
  %w1 = netspec.param "d1.weight" init(he_normal) : tensor<5x3xf32>
  %b1 = netspec.param "d1.bias" init(zeros) : tensor<3xf32>
  %y = netspec.dense %r, %w1, %b1 activation(identity) : tensor<?x5xf32>, tensor<5x3xf32>, tensor<3xf32>
  netspec.output %y : tensor<?x3xf32>
}
