// RUN: lean-mlir-opt %s --split-input-file --netspec-model-summary | FileCheck %s
// RUN: lean-mlir-opt %inputs/mnist_cnn.mlir --netspec-model-summary | FileCheck %s --check-prefix=CNN
// RUN: lean-mlir-opt %inputs/mnist_mlp.mlir --netspec-model-summary | FileCheck %s --check-prefix=MLP
// RUN: lean-mlir-opt %inputs/mnist_cnn.mlir --netspec-model-summary=emit-remarks=true \
// RUN:   --mlir-print-op-on-diagnostic=false -o /dev/null 2>&1 | FileCheck %s --check-prefix=REMARK

// The book's convolutional net has 3,489,130 parameters.
// CNN:      netspec.model @"MNIST-CNN-noBN" attributes {netspec.flops_per_sample = {{[0-9]+}} : i64, netspec.param_count = 3489130 : i64}
// CNN:      netspec.conv2d {{.*}} {netspec.flops_per_sample = 451584 : i64, netspec.output_shape = array<i64: 32, 28, 28>, netspec.param_count = 320 : i64}
// CNN:      netspec.conv2d {{.*}} {netspec.flops_per_sample = 14450688 : i64, netspec.output_shape = array<i64: 32, 28, 28>, netspec.param_count = 9248 : i64}
// CNN:      netspec.max_pool2d {{.*}} netspec.output_shape = array<i64: 32, 14, 14>, netspec.param_count = 0 : i64}
// CNN:      netspec.flatten {{.*}} netspec.output_shape = array<i64: 6272>, netspec.param_count = 0 : i64}
// CNN:      netspec.dense {{.*}} netspec.output_shape = array<i64: 512>, netspec.param_count = 3211776 : i64}
// CNN:      netspec.dense {{.*}} netspec.output_shape = array<i64: 512>, netspec.param_count = 262656 : i64}
// CNN:      netspec.dense {{.*}} netspec.output_shape = array<i64: 10>, netspec.param_count = 5130 : i64}

// The book's multilayer perceptron has 669,706 parameters.
// MLP:      netspec.model @"MNIST-MLP" attributes {netspec.flops_per_sample = 1337344 : i64, netspec.param_count = 669706 : i64}

// REMARK: remark: conv2d       output 32x28x28     params        320  flops/sample       451584
// REMARK: remark: dense        output 10           params       5130  flops/sample        10240
// REMARK: remark: model @MNIST-CNN-noBN: 3489130 parameters in 10 tensors, {{[0-9]+}} flops/sample

// A layer's count covers only the parameters it reads; shapes leave the batch out.
// CHECK-LABEL: netspec.model @two_layers
// CHECK-SAME:  netspec.param_count = 44 : i64
netspec.model @two_layers {
  %x = netspec.input : tensor<?x4xf32>
  %w0 = netspec.param "a.weight" init(he_normal) : tensor<4x6xf32>
  %b0 = netspec.param "a.bias" init(zeros) : tensor<6xf32>
  // CHECK: netspec.dense {{.*}} {netspec.flops_per_sample = 48 : i64, netspec.output_shape = array<i64: 6>, netspec.param_count = 30 : i64}
  %h = netspec.dense %x, %w0, %b0 activation(relu) : tensor<?x4xf32>, tensor<4x6xf32>, tensor<6xf32>
  // CHECK: netspec.relu {{.*}} {netspec.flops_per_sample = 6 : i64, netspec.output_shape = array<i64: 6>, netspec.param_count = 0 : i64}
  %r = netspec.relu %h : tensor<?x6xf32>
  %w1 = netspec.param "b.weight" init(he_normal) : tensor<6x2xf32>
  %b1 = netspec.param "b.bias" init(zeros) : tensor<2xf32>
  // CHECK: netspec.dense {{.*}} {netspec.flops_per_sample = 24 : i64, netspec.output_shape = array<i64: 2>, netspec.param_count = 14 : i64}
  %y = netspec.dense %r, %w1, %b1 activation(identity) : tensor<?x6xf32>, tensor<6x2xf32>, tensor<2xf32>
  netspec.output %y : tensor<?x2xf32>
}

// -----

// Every model in a module is annotated.
// CHECK-LABEL: netspec.model @first
// CHECK-SAME:  netspec.param_count = 3 : i64
// CHECK-LABEL: netspec.model @second
// CHECK-SAME:  netspec.param_count = 0 : i64
netspec.model @first {
  %x = netspec.input : tensor<?x2xf32>
  %w = netspec.param "w" init(he_normal) : tensor<2x1xf32>
  %b = netspec.param "b" init(zeros) : tensor<1xf32>
  %y = netspec.dense %x, %w, %b activation(identity) : tensor<?x2xf32>, tensor<2x1xf32>, tensor<1xf32>
  netspec.output %y : tensor<?x1xf32>
}
netspec.model @second {
  %x = netspec.input : tensor<?x2xf32>
  netspec.output %x : tensor<?x2xf32>
}
