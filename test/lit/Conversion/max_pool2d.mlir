// max_pool2d: forward lowering and VJP with first-maximum routing.
// RUN: lean-mlir-opt --allow-unregistered-dialect %s \
// RUN:   --netspec-to-stablehlo="batch-size=2 functions=value_and_grad" \
// RUN:   | iree-opt | FileCheck %s

// Overlapping windows: 3x3, stride 2, on 5x5.
// CHECK-LABEL: func.func @value_and_grad
// CHECK:       %[[H:.*]] = stablehlo.add
// CHECK:       %[[P:.*]] = "stablehlo.reduce_window"(%[[H]], %{{.*}}) <{window_dimensions = array<i64: 1, 1, 3, 3>, window_strides = array<i64: 1, 1, 2, 2>}>
// CHECK:         stablehlo.maximum
// Window offset (0, 0): every window's first element wins if it is the max.
// CHECK:       %[[S0:.*]] = stablehlo.slice %[[H]] [0:2, 0:1, 0:3:2, 0:3:2]
// CHECK:       %[[HIT0:.*]] = stablehlo.compare EQ, %[[S0]], %[[P]]
// CHECK:       %[[R0:.*]] = stablehlo.select %[[HIT0]], %[[G:[^,]*]], %[[Z:[^ ]*]] :
// CHECK:       stablehlo.pad %[[R0]], %{{.*}}, low = [0, 0, 0, 0], high = [0, 0, 2, 2], interior = [0, 0, 1, 1]
// Offset (0, 1) wins only where offset (0, 0) did not.
// CHECK:       %[[S1:.*]] = stablehlo.slice %[[H]] [0:2, 0:1, 0:3:2, 1:4:2]
// CHECK:       %[[EQ1:.*]] = stablehlo.compare EQ, %[[S1]], %[[P]]
// CHECK:       %[[FREE1:.*]] = stablehlo.not %[[HIT0]]
// CHECK:       %[[HIT1:.*]] = stablehlo.and %[[EQ1]], %[[FREE1]]
// CHECK:       %[[TAKEN1:.*]] = stablehlo.or %[[HIT0]], %[[HIT1]]
// CHECK:       %[[R1:.*]] = stablehlo.select %[[HIT1]], %[[G]], %[[Z]]
// CHECK:       stablehlo.pad %[[R1]], %{{.*}}, low = [0, 0, 0, 1], high = [0, 0, 2, 1], interior = [0, 0, 1, 1]
// ... and so on, in row-major order, up to offset (2, 2).
// CHECK:       stablehlo.slice %[[H]] [0:2, 0:1, 2:5:2, 2:5:2]
// CHECK-NOT:   select_and_scatter
// CHECK:       return
netspec.model @pool {
  %x = netspec.input : tensor<?x1x5x5xf32>
  %w = netspec.param "c.weight" init(he_normal) : tensor<1x1x1x1xf32>
  %b = netspec.param "c.bias" init(zeros) : tensor<1xf32>
  %h = netspec.conv2d %x, %w, %b stride(1) padding(valid) activation(identity)
      : tensor<?x1x5x5xf32>, tensor<1x1x1x1xf32>, tensor<1xf32>
  %p = netspec.max_pool2d %h window(3) stride(2) : tensor<?x1x5x5xf32>
  %f = netspec.flatten %p : tensor<?x1x2x2xf32>
  netspec.output %f : tensor<?x4xf32>
}
