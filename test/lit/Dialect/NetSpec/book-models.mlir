// The book's models, printed by Python, round-trip through lean-mlir-opt.
// RUN: %python -c "import lean_mlir as lm; print(lm.mnist_cnn().to_mlir())" \
// RUN:   | lean-mlir-opt | lean-mlir-opt --mlir-print-op-generic | lean-mlir-opt \
// RUN:   | FileCheck %s --check-prefix=CNN
// RUN: %python -c "import lean_mlir as lm; print(lm.mnist_mlp().to_mlir())" \
// RUN:   | lean-mlir-opt | FileCheck %s --check-prefix=MLP
// The checked-in copies match what Python prints today.
// RUN: %python -c "import lean_mlir as lm; print(lm.mnist_cnn().to_mlir())" \
// RUN:   | diff - %inputs/mnist_cnn.mlir -I '^//'

// CNN-LABEL: netspec.model @"MNIST-CNN-noBN"
// CNN:       netspec.input : tensor<?x1x28x28xf32>
// CNN:       netspec.param "conv2d_0.weight" init(he_normal) : tensor<32x1x3x3xf32>
// CNN:       netspec.conv2d {{.*}} stride(1) padding(same) activation(relu)
// CNN:       netspec.param "conv2d_1.weight" init(he_normal) : tensor<32x32x3x3xf32>
// CNN:       netspec.max_pool2d {{.*}} window(2) stride(2) : tensor<?x32x28x28xf32>
// CNN:       netspec.flatten {{.*}} : tensor<?x32x14x14xf32>
// CNN:       netspec.param "dense_0.weight" init(he_normal) : tensor<6272x512xf32>
// CNN:       netspec.param "dense_2.bias" init(zeros) : tensor<10xf32>
// CNN:       netspec.dense {{.*}} activation(identity) : tensor<?x512xf32>, tensor<512x10xf32>, tensor<10xf32>
// CNN:       netspec.output {{.*}} : tensor<?x10xf32>

// MLP-LABEL: netspec.model @"MNIST-MLP"
// MLP:       netspec.flatten {{.*}} : tensor<?x1x28x28xf32>
// MLP:       netspec.param "dense_0.weight" init(he_normal) : tensor<784x512xf32>
// MLP-NOT:   netspec.conv2d
// MLP:       netspec.output {{.*}} : tensor<?x10xf32>
