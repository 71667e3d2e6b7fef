// The named pipelines on the book's CNN, verified by StableHLO's verifier;
// no netspec op survives any of them.
// RUN: lean-mlir-opt --allow-unregistered-dialect %inputs/mnist_cnn.mlir \
// RUN:   --pass-pipeline='builtin.module(netspec-forward{batch-size=128})' \
// RUN:   | iree-opt | FileCheck %s --check-prefix=FWD
// RUN: lean-mlir-opt --allow-unregistered-dialect %inputs/mnist_cnn.mlir \
// RUN:   --pass-pipeline='builtin.module(netspec-eval{batch-size=100})' \
// RUN:   | iree-opt | FileCheck %s --check-prefix=EVAL
// RUN: lean-mlir-opt --allow-unregistered-dialect %inputs/mnist_cnn.mlir \
// RUN:   --pass-pipeline='builtin.module(netspec-train-step{batch-size=128 momentum=0.9})' \
// RUN:   | iree-opt | FileCheck %s --check-prefix=TRAIN
// The plugin brings the lowering to the stock mlir-opt-22 as well.
// RUN: mlir-opt-22 --allow-unregistered-dialect --load-dialect-plugin=%netspec_plugin \
// RUN:   --load-pass-plugin=%netspec_plugin %inputs/mnist_mlp.mlir \
// RUN:   --pass-pipeline='builtin.module(netspec-forward{batch-size=32})' \
// RUN:   | iree-opt | FileCheck %s --check-prefix=PLUGIN

// FWD-NOT:   netspec.
// FWD-LABEL: func.func @predict
// FWD-SAME:  %{{.*}}: tensor<128x1x28x28xf32>) -> tensor<128x10xf32>
// FWD-COUNT-2: stablehlo.convolution
// FWD:       "stablehlo.reduce_window"
// FWD:       stablehlo.reshape %{{.*}} : (tensor<128x32x14x14xf32>) -> tensor<128x6272xf32>
// FWD-COUNT-3: stablehlo.dot_general
// FWD-NOT:   func.func

// EVAL-NOT:  netspec.
// EVAL:      func.func @eval({{.*}}%{{.*}}: tensor<100x1x28x28xf32>, %{{.*}}: tensor<100xi32>) -> (tensor<f32>, tensor<i32>, tensor<i32>)

// TRAIN-NOT: netspec.
// TRAIN:     func.func @value_and_grad
// TRAIN:     func.func @train_step
// It returns ten new parameters, ten new velocities and the loss.
// TRAIN-SAME: (tensor<32x1x3x3xf32>, tensor<32xf32>, tensor<32x32x3x3xf32>, tensor<32xf32>, tensor<6272x512xf32>, tensor<512xf32>, tensor<512x512xf32>, tensor<512xf32>, tensor<512x10xf32>, tensor<10xf32>, tensor<32x1x3x3xf32>, tensor<32xf32>, tensor<32x32x3x3xf32>, tensor<32xf32>, tensor<6272x512xf32>, tensor<512xf32>, tensor<512x512xf32>, tensor<512xf32>, tensor<512x10xf32>, tensor<10xf32>, tensor<f32>)
// Forward, conv2's input gradient, both weight gradients.
// TRAIN-COUNT-5: stablehlo.convolution
// TRAIN-NOT: stablehlo.convolution
// TRAIN:     return

// PLUGIN:    func.func @predict({{.*}}tensor<32x1x28x28xf32>) -> tensor<32x10xf32>
