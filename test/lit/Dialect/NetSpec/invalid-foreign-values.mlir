// A netspec model may hold ops of other dialects; batch_norm's running
// statistics must still be netspec parameters (batch_norm_c5).
// RUN: lean-mlir-opt %s --allow-unregistered-dialect -verify-diagnostics

netspec.model @negative_bn_stats_not_param {
  %x = netspec.input : tensor<?x4xf32>
  %s = netspec.param "s" init(ones) : tensor<4xf32>
  %m = netspec.param "m" init(zeros) non_trainable : tensor<4xf32>
  %v = "other.make"() : () -> tensor<4xf32>
  // expected-error @+1 {{'netspec.batch_norm' op running_var must be a 'netspec.param' marked non_trainable, got a value that is not a parameter}}
  %y = netspec.batch_norm %x, %s, %s, %m, %v epsilon(1.0e-5) momentum(0.1) activation(identity) : tensor<?x4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  netspec.output %y : tensor<?x4xf32>
}
