// The stock mlir-opt-22 loads netspec and its passes from the plugin. Pass
// plugins register after mlir-opt has built its flags, so passes are named
// in --pass-pipeline.
// RUN: mlir-opt-22 --load-dialect-plugin=%netspec_plugin %inputs/mnist_cnn.mlir \
// RUN:   | mlir-opt-22 --load-dialect-plugin=%netspec_plugin | FileCheck %s --check-prefix=ROUND
// RUN: mlir-opt-22 --load-dialect-plugin=%netspec_plugin --load-pass-plugin=%netspec_plugin \
// RUN:   --pass-pipeline='builtin.module(netspec-model-summary)' %inputs/mnist_cnn.mlir \
// RUN:   | FileCheck %s --check-prefix=SUMMARY
// RUN: mlir-opt-22 --load-dialect-plugin=%netspec_plugin --load-pass-plugin=%netspec_plugin \
// RUN:   --pass-pipeline='builtin.module(netspec-model-summary)' %inputs/mnist_mlp.mlir \
// RUN:   | FileCheck %s --check-prefix=MLP
// The plugin's verifiers run inside mlir-opt-22 too.
// RUN: not mlir-opt-22 --load-dialect-plugin=%netspec_plugin %s 2>&1 | FileCheck %s --check-prefix=BAD

// ROUND: netspec.model @"MNIST-CNN-noBN"
// ROUND: netspec.conv2d {{.*}} stride(1) padding(same) activation(relu)
// ROUND: netspec.output {{.*}} : tensor<?x10xf32>
// SUMMARY: netspec.param_count = 3489130 : i64
// MLP: netspec.param_count = 669706 : i64

// BAD: error: 'netspec.dense' op input has 3 features but the weight expects 4
netspec.model @bad {
  %x = netspec.input : tensor<?x3xf32>
  %w = netspec.param "w" init(he_normal) : tensor<4x2xf32>
  %b = netspec.param "b" init(zeros) : tensor<2xf32>
  %y = netspec.dense %x, %w, %b activation(identity) : tensor<?x3xf32>, tensor<4x2xf32>, tensor<2xf32>
  netspec.output %y : tensor<?x2xf32>
}
