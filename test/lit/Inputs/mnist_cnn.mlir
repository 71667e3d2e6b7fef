// The book's MNIST CNN as printed by lean_mlir.mnist_cnn().to_mlir().
module {
  netspec.model @"MNIST-CNN-noBN" {
    %0 = netspec.input : tensor<?x1x28x28xf32>
    %1 = netspec.param "conv2d_0.weight" init(he_normal) : tensor<32x1x3x3xf32>
    %2 = netspec.param "conv2d_0.bias" init(zeros) : tensor<32xf32>
    %3 = netspec.conv2d %0, %1, %2 stride(1) padding(same) activation(relu) : tensor<?x1x28x28xf32>, tensor<32x1x3x3xf32>, tensor<32xf32>
    %4 = netspec.param "conv2d_1.weight" init(he_normal) : tensor<32x32x3x3xf32>
    %5 = netspec.param "conv2d_1.bias" init(zeros) : tensor<32xf32>
    %6 = netspec.conv2d %3, %4, %5 stride(1) padding(same) activation(relu) : tensor<?x32x28x28xf32>, tensor<32x32x3x3xf32>, tensor<32xf32>
    %7 = netspec.max_pool2d %6 window(2) stride(2) : tensor<?x32x28x28xf32>
    %8 = netspec.flatten %7 : tensor<?x32x14x14xf32>
    %9 = netspec.param "dense_0.weight" init(he_normal) : tensor<6272x512xf32>
    %10 = netspec.param "dense_0.bias" init(zeros) : tensor<512xf32>
    %11 = netspec.dense %8, %9, %10 activation(relu) : tensor<?x6272xf32>, tensor<6272x512xf32>, tensor<512xf32>
    %12 = netspec.param "dense_1.weight" init(he_normal) : tensor<512x512xf32>
    %13 = netspec.param "dense_1.bias" init(zeros) : tensor<512xf32>
    %14 = netspec.dense %11, %12, %13 activation(relu) : tensor<?x512xf32>, tensor<512x512xf32>, tensor<512xf32>
    %15 = netspec.param "dense_2.weight" init(he_normal) : tensor<512x10xf32>
    %16 = netspec.param "dense_2.bias" init(zeros) : tensor<10xf32>
    %17 = netspec.dense %14, %15, %16 activation(identity) : tensor<?x512xf32>, tensor<512x10xf32>, tensor<10xf32>
    netspec.output %17 : tensor<?x10xf32>
  }
}

