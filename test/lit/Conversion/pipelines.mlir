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
// FWD-SAME:  %{{.*}}: tensor<128x1x28x28xf32> {netspec.role = "images"}) -> (tensor<128x10xf32> {netspec.role = "logits"})
// FWD-COUNT-2: stablehlo.convolution
// FWD:       "stablehlo.reduce_window"
// FWD:       stablehlo.reshape %{{.*}} : (tensor<128x32x14x14xf32>) -> tensor<128x6272xf32>
// FWD-COUNT-3: stablehlo.dot_general
// FWD-NOT:   func.func

// EVAL-NOT:  netspec.
// EVAL:      func.func @eval({{.*}}%{{[^:]*}}: tensor<100x1x28x28xf32> {netspec.role = "images"}, %{{[^:]*}}: tensor<100xi32> {netspec.role = "labels"}) -> (tensor<f32> {netspec.role = "loss"}, tensor<i32> {netspec.role = "correct"}, tensor<i32> {netspec.role = "top5_correct"})

// TRAIN-NOT: netspec.
// TRAIN:     func.func @value_and_grad
// TRAIN:     func.func @train_step
// It returns ten new parameters, ten new velocities and the loss.
// TRAIN-SAME: -> (tensor<32x1x3x3xf32> {netspec.role = "param:conv2d_0.weight"}, tensor<32xf32> {netspec.role = "param:conv2d_0.bias"}, tensor<32x32x3x3xf32> {netspec.role = "param:conv2d_1.weight"}, tensor<32xf32> {netspec.role = "param:conv2d_1.bias"}, tensor<6272x512xf32> {netspec.role = "param:dense_0.weight"}, tensor<512xf32> {netspec.role = "param:dense_0.bias"}, tensor<512x512xf32> {netspec.role = "param:dense_1.weight"}, tensor<512xf32> {netspec.role = "param:dense_1.bias"}, tensor<512x10xf32> {netspec.role = "param:dense_2.weight"}, tensor<10xf32> {netspec.role = "param:dense_2.bias"},
// TRAIN-SAME: tensor<32x1x3x3xf32> {netspec.role = "state:conv2d_0.weight:velocity"}, tensor<32xf32> {netspec.role = "state:conv2d_0.bias:velocity"}, tensor<32x32x3x3xf32> {netspec.role = "state:conv2d_1.weight:velocity"}, tensor<32xf32> {netspec.role = "state:conv2d_1.bias:velocity"}, tensor<6272x512xf32> {netspec.role = "state:dense_0.weight:velocity"}, tensor<512xf32> {netspec.role = "state:dense_0.bias:velocity"}, tensor<512x512xf32> {netspec.role = "state:dense_1.weight:velocity"}, tensor<512xf32> {netspec.role = "state:dense_1.bias:velocity"}, tensor<512x10xf32> {netspec.role = "state:dense_2.weight:velocity"}, tensor<10xf32> {netspec.role = "state:dense_2.bias:velocity"},
// TRAIN-SAME: tensor<f32> {netspec.role = "loss"})
// Forward, conv2's input gradient, both weight gradients.
// TRAIN-COUNT-5: stablehlo.convolution
// TRAIN-NOT: stablehlo.convolution
// TRAIN:     return

// PLUGIN:    func.func @predict({{.*}}tensor<32x1x28x28xf32> {netspec.role = "images"}) -> (tensor<32x10xf32> {netspec.role = "logits"})
