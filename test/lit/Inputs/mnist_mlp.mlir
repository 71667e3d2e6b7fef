// The book's MNIST MLP as printed by lean_mlir.mnist_mlp().to_mlir().
module {
  netspec.model @"MNIST-MLP" {
    %0 = netspec.input : tensor<?x1x28x28xf32>
    %1 = netspec.flatten %0 : tensor<?x1x28x28xf32>
    %2 = netspec.param "dense_0.weight" init(he_normal) : tensor<784x512xf32>
    %3 = netspec.param "dense_0.bias" init(zeros) : tensor<512xf32>
    %4 = netspec.dense %1, %2, %3 activation(relu) : tensor<?x784xf32>, tensor<784x512xf32>, tensor<512xf32>
    %5 = netspec.param "dense_1.weight" init(he_normal) : tensor<512x512xf32>
    %6 = netspec.param "dense_1.bias" init(zeros) : tensor<512xf32>
    %7 = netspec.dense %4, %5, %6 activation(relu) : tensor<?x512xf32>, tensor<512x512xf32>, tensor<512xf32>
    %8 = netspec.param "dense_2.weight" init(he_normal) : tensor<512x10xf32>
    %9 = netspec.param "dense_2.bias" init(zeros) : tensor<10xf32>
    %10 = netspec.dense %7, %8, %9 activation(identity) : tensor<?x512xf32>, tensor<512x10xf32>, tensor<10xf32>
    netspec.output %10 : tensor<?x10xf32>
  }
}

