// Round-trip of batch_norm, global_avg_pool, add, a conv2d without bias and
// non-trainable parameters, in the custom and in the generic form.
// RUN: lean-mlir-opt %s | lean-mlir-opt | FileCheck %s
// RUN: lean-mlir-opt %s --mlir-print-op-generic | lean-mlir-opt | FileCheck %s
// RUN: lean-mlir-opt %s --netspec-model-summary | FileCheck %s --check-prefix=SUMMARY

// CHECK-LABEL: netspec.model @residual
// SUMMARY-LABEL: netspec.model @residual
// Running statistics are not counted: 4*2*3*3 + (4 + 4) + (4*4 + 4) = 100.
// SUMMARY-SAME: netspec.param_count = 100 : i64
netspec.model @residual {
  %x = netspec.input : tensor<?x2x6x6xf32>
  // CHECK: %[[W:.*]] = netspec.param "c.weight" init(he_normal) : tensor<4x2x3x3xf32>
  %w = netspec.param "c.weight" init(he_normal) : tensor<4x2x3x3xf32>
  // CHECK: %[[S:.*]] = netspec.param "bn.weight" init(ones) : tensor<4xf32>
  %s = netspec.param "bn.weight" init(ones) : tensor<4xf32>
  %t = netspec.param "bn.bias" init(zeros) : tensor<4xf32>
  // CHECK: %[[M:.*]] = netspec.param "bn.running_mean" init(zeros) non_trainable : tensor<4xf32>
  %m = netspec.param "bn.running_mean" init(zeros) non_trainable : tensor<4xf32>
  // CHECK: %[[V:.*]] = netspec.param "bn.running_var" init(ones) non_trainable : tensor<4xf32>
  %v = netspec.param "bn.running_var" init(ones) non_trainable : tensor<4xf32>
  // CHECK: %[[C:.*]] = netspec.conv2d %{{.*}}, %[[W]] stride(1) padding(same) activation(identity) : tensor<?x2x6x6xf32>, tensor<4x2x3x3xf32>
  // SUMMARY: netspec.conv2d {{.*}}netspec.param_count = 72
  %c = netspec.conv2d %x, %w stride(1) padding(same) activation(identity)
      : tensor<?x2x6x6xf32>, tensor<4x2x3x3xf32>
  // CHECK: %[[B:.*]] = netspec.batch_norm %[[C]], %[[S]], %{{.*}}, %[[M]], %[[V]] epsilon(1.000000e-05) momentum(1.000000e-01) activation(relu)
  // CHECK-SAME: : tensor<?x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  // SUMMARY: netspec.batch_norm {{.*}}netspec.output_shape = array<i64: 4, 6, 6>, netspec.param_count = 8
  %b = netspec.batch_norm %c, %s, %t, %m, %v epsilon(1.0e-5) momentum(0.1) activation(relu)
      : tensor<?x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  // CHECK: %[[A:.*]] = netspec.add %[[B]], %[[C]] : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>
  %a = netspec.add %b, %c : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>
  // CHECK: %[[G:.*]] = netspec.global_avg_pool %[[A]] : tensor<?x4x6x6xf32>
  // SUMMARY: netspec.global_avg_pool {{.*}}netspec.output_shape = array<i64: 4>
  %g = netspec.global_avg_pool %a : tensor<?x4x6x6xf32>
  %dw = netspec.param "d.weight" init(he_normal) : tensor<4x4xf32>
  %db = netspec.param "d.bias" init(zeros) : tensor<4xf32>
  // CHECK: netspec.dense %[[G]], %{{.*}}, %{{.*}} activation(identity) : tensor<?x4xf32>
  %y = netspec.dense %g, %dw, %db activation(identity)
      : tensor<?x4xf32>, tensor<4x4xf32>, tensor<4xf32>
  netspec.output %y : tensor<?x4xf32>
}

// Batch norm of a [N, C] activation.
// CHECK-LABEL: netspec.model @dense_bn
netspec.model @dense_bn {
  %x = netspec.input : tensor<?x3xf32>
  %s = netspec.param "bn.weight" init(ones) : tensor<3xf32>
  %t = netspec.param "bn.bias" init(zeros) : tensor<3xf32>
  %m = netspec.param "bn.running_mean" init(zeros) non_trainable : tensor<3xf32>
  %v = netspec.param "bn.running_var" init(ones) non_trainable : tensor<3xf32>
  // CHECK: netspec.batch_norm {{.*}} epsilon(1.000000e-03) momentum(0.000000e+00) activation(identity) : tensor<?x3xf32>
  %y = netspec.batch_norm %x, %s, %t, %m, %v epsilon(1.0e-3) momentum(0.0) activation(identity)
      : tensor<?x3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>
  netspec.output %y : tensor<?x3xf32>
}
