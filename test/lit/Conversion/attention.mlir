// attention: per sample and head, S = (q / sqrt(D)) k^T, P = softmax(S) (each
// row's maximum subtracted first), O = P v; its VJP dv = P^T dO, dP = dO v^T,
// softmax's rule dS = P (dP - rowsum(dP P)), dq = dS k / sqrt(D),
// dk = dS^T (q / sqrt(D)). Every product one dot_general batched over N and
// the heads; the cotangents of q, k and v joined back into the fused layout.
// RUN: lean-mlir-opt --allow-unregistered-dialect %s \
// RUN:   --netspec-to-stablehlo="batch-size=2 functions=value_and_grad target=generic" \
// RUN:   | iree-opt | FileCheck %s

// CHECK-LABEL: func.func @value_and_grad
// q, k and v: the thirds of [N, T, 3, H, D]; q scaled by 1 / sqrt(3).
// CHECK:       %[[SPLIT:.*]] = stablehlo.reshape %{{.*}} : (tensor<2x5x18xf32>) -> tensor<2x5x3x2x3xf32>
// CHECK:       stablehlo.slice %[[SPLIT]] [0:2, 0:5, 0:1, 0:2, 0:3]
// CHECK:       stablehlo.slice %[[SPLIT]] [0:2, 0:5, 1:2, 0:2, 0:3]
// CHECK:       stablehlo.slice %[[SPLIT]] [0:2, 0:5, 2:3, 0:2, 0:3]
// CHECK:       %[[S:.*]] = stablehlo.dot_general %{{.*}}, %{{.*}}, batching_dims = [0, 2] x [0, 2], contracting_dims = [3] x [3] : (tensor<2x5x2x3xf32>, tensor<2x5x2x3xf32>) -> tensor<2x2x5x5xf32>
// CHECK:       stablehlo.reduce(%[[S]] init: %{{.*}}) applies stablehlo.maximum across dimensions = [3]
// CHECK:       %[[E:.*]] = stablehlo.exponential
// CHECK:       %[[P:.*]] = stablehlo.divide %[[E]], %{{.*}} : tensor<2x2x5x5xf32>
// CHECK:       stablehlo.dot_general %[[P]], %{{.*}}, batching_dims = [0, 1] x [0, 2], contracting_dims = [3] x [1] : (tensor<2x2x5x5xf32>, tensor<2x5x2x3xf32>) -> tensor<2x2x5x3xf32>
// Backward: the rule rebuilds q, k, v and P with the forward pass's ops (the
// compiler's CSE shares them), then the products.
// CHECK:       %[[P2:.*]] = stablehlo.divide %{{.*}}, %{{.*}} : tensor<2x2x5x5xf32>
// CHECK:       %[[DO:.*]] = stablehlo.transpose %{{.*}}, dims = [0, 2, 1, 3] : (tensor<2x5x2x3xf32>) -> tensor<2x2x5x3xf32>
// CHECK:       %[[DV:.*]] = stablehlo.dot_general %[[P2]], %[[DO]], batching_dims = [0, 1] x [0, 1], contracting_dims = [2] x [2] : (tensor<2x2x5x5xf32>, tensor<2x2x5x3xf32>) -> tensor<2x2x5x3xf32>
// CHECK:       %[[DP:.*]] = stablehlo.dot_general %[[DO]], %{{.*}}, batching_dims = [0, 1] x [0, 2], contracting_dims = [3] x [3] : (tensor<2x2x5x3xf32>, tensor<2x5x2x3xf32>) -> tensor<2x2x5x5xf32>
// CHECK:       %[[DPP:.*]] = stablehlo.multiply %[[DP]], %[[P2]]
// CHECK:       stablehlo.reduce(%[[DPP]] init: %{{.*}}) applies stablehlo.add across dimensions = [3]
// CHECK:       %[[DIFF:.*]] = stablehlo.subtract %[[DP]], %{{.*}} : tensor<2x2x5x5xf32>
// CHECK:       %[[DS:.*]] = stablehlo.multiply %[[P2]], %[[DIFF]]
// CHECK:       %[[DQ:.*]] = stablehlo.dot_general %[[DS]], %{{.*}}, batching_dims = [0, 1] x [0, 2], contracting_dims = [3] x [1]
// CHECK:       stablehlo.multiply %[[DQ]], %{{.*}} : tensor<2x2x5x3xf32>
// CHECK:       stablehlo.dot_general %[[DS]], %{{.*}}, batching_dims = [0, 1] x [0, 2], contracting_dims = [2] x [1]
// CHECK:       %[[JOINED:.*]] = stablehlo.concatenate %{{.*}}, %{{.*}}, %{{.*}}, dim = 2 : (tensor<2x5x1x2x3xf32>, tensor<2x5x1x2x3xf32>, tensor<2x5x1x2x3xf32>) -> tensor<2x5x3x2x3xf32>
// CHECK:       stablehlo.reshape %[[JOINED]] : (tensor<2x5x3x2x3xf32>) -> tensor<2x5x18xf32>
netspec.model @attention {
  %x = netspec.input : tensor<?x5x18xf32>
  %pos = netspec.param "pos.embedding" init(small_normal) : tensor<1x5x18xf32>
  %e = netspec.position_embedding %x, %pos : tensor<?x5x18xf32>, tensor<1x5x18xf32>
  %y = netspec.attention %e heads(2) : tensor<?x5x18xf32>
  %o = netspec.take_token %y index(0) : tensor<?x5x6xf32>
  netspec.output %o : tensor<?x6xf32>
}
