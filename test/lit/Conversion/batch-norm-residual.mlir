// batch_norm, add and global_avg_pool: forward lowering (inference and
// training), the full batch norm VJP, a residual cotangent sum, and the
// train step's signature with non-trainable parameters.
// RUN: lean-mlir-opt --allow-unregistered-dialect %s \
// RUN:   --netspec-to-stablehlo="batch-size=4 functions=predict,train_step momentum=0.9" \
// RUN:   | iree-opt | FileCheck %s
// RUN: lean-mlir-opt --allow-unregistered-dialect %s \
// RUN:   --netspec-to-stablehlo="batch-size=4 functions=train_step target=cpu" \
// RUN:   | iree-opt | FileCheck %s --check-prefix=CPU
// RUN: lean-mlir-opt --allow-unregistered-dialect %s \
// RUN:   --netspec-to-stablehlo="batch-size=4 functions=train_step target=gpu" \
// RUN:   | iree-opt | FileCheck %s --check-prefix=CPU
// RUN: not lean-mlir-opt --allow-unregistered-dialect %s \
// RUN:   --netspec-to-stablehlo="batch-size=1 functions=value_and_grad" 2>&1 \
// RUN:   | FileCheck %s --check-prefix=ONE
// A batch of one is fine where the running statistics are used.
// RUN: lean-mlir-opt --allow-unregistered-dialect %s \
// RUN:   --netspec-to-stablehlo="batch-size=1 functions=predict,eval" | iree-opt

// predict normalises with the running statistics: y = x * a + c with
// a = scale / sqrt(running_var + eps), c = shift - running_mean * a.
// CHECK-LABEL: func.func @predict
// CHECK-SAME:  (%[[S:.*]]: tensor<2xf32> {netspec.role = "param:bn.weight"}, %[[T:.*]]: tensor<2xf32> {netspec.role = "param:bn.bias"}, %[[M:.*]]: tensor<2xf32> {netspec.role = "param:bn.running_mean"}, %[[V:.*]]: tensor<2xf32> {netspec.role = "param:bn.running_var"},
// CHECK-SAME:  {netspec.role = "param:bn2.running_var"}, %[[X:.*]]: tensor<4x2x3x3xf32> {netspec.role = "images"}) -> (tensor<4x2xf32> {netspec.role = "logits"})
// CHECK:       %[[R:.*]] = stablehlo.maximum %[[X]]
// CHECK-NOT:   stablehlo.reduce
// CHECK:       %[[VE:.*]] = stablehlo.add %[[V]], %{{.*}} : tensor<2xf32>
// CHECK:       %[[ROOT:.*]] = stablehlo.sqrt %[[VE]]
// CHECK:       %[[INV:.*]] = stablehlo.divide %{{.*}}, %[[ROOT]]
// CHECK:       %[[A:.*]] = stablehlo.multiply %[[S]], %[[INV]]
// CHECK:       %[[MA:.*]] = stablehlo.multiply %[[M]], %[[A]]
// CHECK:       %[[C:.*]] = stablehlo.subtract %[[T]], %[[MA]]
// CHECK:       %[[CB:.*]] = stablehlo.broadcast_in_dim %[[C]], dims = [1] : (tensor<2xf32>) -> tensor<4x2x3x3xf32>
// CHECK:       %[[AB:.*]] = stablehlo.broadcast_in_dim %[[A]], dims = [1]
// CHECK:       %[[XA:.*]] = stablehlo.multiply %[[R]], %[[AB]]
// CHECK:       %[[BN:.*]] = stablehlo.add %[[XA]], %[[CB]]
// The residual add, then the global average: a sum over W, then H, times 1/9.
// CHECK:       %[[SUM:.*]] = stablehlo.add %[[BN]], %[[R]] : tensor<4x2x3x3xf32>
// CHECK:       %[[GW:.*]] = stablehlo.reduce(%[[SUM]] init: %{{.*}}) applies stablehlo.add across dimensions = [3] : (tensor<4x2x3x3xf32>, tensor<f32>) -> tensor<4x2x3xf32>
// CHECK:       %[[GS:.*]] = stablehlo.reduce(%[[GW]] init: %{{.*}}) applies stablehlo.add across dimensions = [2] : (tensor<4x2x3xf32>, tensor<f32>) -> tensor<4x2xf32>
// CHECK:       stablehlo.multiply %[[GS]], %{{.*}} : tensor<4x2xf32>

// train_step: every parameter in (8), velocity for the 4 trainable ones
// only; out come the 8 parameters, the 4 velocities and the loss.
// CHECK-LABEL: func.func @train_step
// CHECK-SAME:  (%[[S:.*]]: tensor<2xf32> {netspec.role = "param:bn.weight"}, %[[T:.*]]: tensor<2xf32> {netspec.role = "param:bn.bias"}, %[[M:.*]]: tensor<2xf32> {netspec.role = "param:bn.running_mean"}, %[[V:.*]]: tensor<2xf32> {netspec.role = "param:bn.running_var"},
// CHECK-SAME:  {netspec.role = "param:bn2.running_var"}, %{{[^:]*}}: tensor<2xf32> {netspec.role = "state:bn.weight:velocity"}, %{{[^:]*}}: tensor<2xf32> {netspec.role = "state:bn.bias:velocity"}, %{{[^:]*}}: tensor<2xf32> {netspec.role = "state:bn2.weight:velocity"}, %{{[^:]*}}: tensor<2xf32> {netspec.role = "state:bn2.bias:velocity"}, %[[X:[^:]*]]: tensor<4x2x3x3xf32> {netspec.role = "images"}, %{{[^:]*}}: tensor<4xi32> {netspec.role = "labels"}, %{{[^:]*}}: tensor<f32> {netspec.role = "learning_rate"}, %{{[^:]*}}: tensor<i32> {netspec.role = "step"})
// CHECK-SAME:  -> (tensor<2xf32> {netspec.role = "param:bn.weight"}, tensor<2xf32> {netspec.role = "param:bn.bias"}, tensor<2xf32> {netspec.role = "param:bn.running_mean"}, tensor<2xf32> {netspec.role = "param:bn.running_var"}, tensor<2xf32> {netspec.role = "param:bn2.weight"}, tensor<2xf32> {netspec.role = "param:bn2.bias"}, tensor<2xf32> {netspec.role = "param:bn2.running_mean"}, tensor<2xf32> {netspec.role = "param:bn2.running_var"},
// CHECK-SAME:  tensor<2xf32> {netspec.role = "state:bn.weight:velocity"}, tensor<2xf32> {netspec.role = "state:bn.bias:velocity"}, tensor<2xf32> {netspec.role = "state:bn2.weight:velocity"}, tensor<2xf32> {netspec.role = "state:bn2.bias:velocity"}, tensor<f32> {netspec.role = "loss"})
// CHECK:       %[[R:.*]] = stablehlo.maximum %[[X]]
// Batch mean and biased variance over N, H, W (36 values: 1/36 = 0.0277...),
// each sum staged: over W, then H, then N.
// CHECK:       %[[SX0:.*]] = stablehlo.reduce(%[[R]] init: %{{.*}}) applies stablehlo.add across dimensions = [3]
// CHECK:       %[[SX1:.*]] = stablehlo.reduce(%[[SX0]] init: %{{.*}}) applies stablehlo.add across dimensions = [2]
// CHECK:       %[[SX:.*]] = stablehlo.reduce(%[[SX1]] init: %{{.*}}) applies stablehlo.add across dimensions = [0] : (tensor<4x2xf32>, tensor<f32>) -> tensor<2xf32>
// CHECK:       %[[MEAN:.*]] = stablehlo.multiply %[[SX]], %{{.*}} : tensor<2xf32>
// CHECK:       %[[XC:.*]] = stablehlo.subtract %[[R]], %{{.*}}
// CHECK:       %[[SQ:.*]] = stablehlo.multiply %[[XC]], %[[XC]]
// CHECK:       %[[SV0:.*]] = stablehlo.reduce(%[[SQ]] init: %{{.*}}) applies stablehlo.add across dimensions = [3]
// CHECK:       %[[SV1:.*]] = stablehlo.reduce(%[[SV0]] init: %{{.*}}) applies stablehlo.add across dimensions = [2]
// CHECK:       %[[SV:.*]] = stablehlo.reduce(%[[SV1]] init: %{{.*}}) applies stablehlo.add across dimensions = [0]
// CHECK:       %[[VAR:.*]] = stablehlo.multiply %[[SV]], %{{.*}} : tensor<2xf32>
// Running statistics, momentum 0.1; the variance unbiased (36 / 35 = 1.0285...).
// CHECK:       %[[MM:.*]] = stablehlo.multiply %{{.*}}, %[[MEAN]]
// CHECK:       %[[MOLD:.*]] = stablehlo.multiply %{{.*}}, %[[M]]
// CHECK:       %[[NEWM:.*]] = stablehlo.add %[[MOLD]], %[[MM]]
// CHECK:       %[[UNB:.*]] = stablehlo.constant dense<1.02857149>
// CHECK:       %[[VU:.*]] = stablehlo.multiply %[[UNB]], %[[VAR]]
// CHECK:       %[[VM:.*]] = stablehlo.multiply %{{.*}}, %[[VU]]
// CHECK:       %[[VOLD:.*]] = stablehlo.multiply %{{.*}}, %[[V]]
// CHECK:       %[[NEWV:.*]] = stablehlo.add %[[VOLD]], %[[VM]]
// The VJP: global_avg_pool spreads g / 9; batch norm's full VJP,
// dx = a * (g - d_shift / m - x_hat * d_scale / m).
// CHECK:       %[[G:.*]] = stablehlo.broadcast_in_dim %{{.*}}, dims = [0, 1] : (tensor<4x2xf32>) -> tensor<4x2x3x3xf32>
// CHECK:       %[[INV2:.*]] = stablehlo.divide
// CHECK:       %[[INVB:.*]] = stablehlo.broadcast_in_dim %[[INV2]], dims = [1]
// CHECK:       %[[XHAT:.*]] = stablehlo.multiply %{{.*}}, %[[INVB]] : tensor<4x2x3x3xf32>
// CHECK:       %[[DSHIFT0:.*]] = stablehlo.reduce(%[[G]] init: %{{.*}}) applies stablehlo.add across dimensions = [3]
// CHECK:       %[[DSHIFT1:.*]] = stablehlo.reduce(%[[DSHIFT0]] init: %{{.*}}) applies stablehlo.add across dimensions = [2]
// CHECK:       %[[DSHIFT:.*]] = stablehlo.reduce(%[[DSHIFT1]] init: %{{.*}}) applies stablehlo.add across dimensions = [0]
// CHECK:       %[[GX:.*]] = stablehlo.multiply %[[G]], %[[XHAT]]
// CHECK:       %[[DSCALE0:.*]] = stablehlo.reduce(%[[GX]] init: %{{.*}}) applies stablehlo.add across dimensions = [3]
// CHECK:       %[[DSCALE1:.*]] = stablehlo.reduce(%[[DSCALE0]] init: %{{.*}}) applies stablehlo.add across dimensions = [2]
// CHECK:       %[[DSCALE:.*]] = stablehlo.reduce(%[[DSCALE1]] init: %{{.*}}) applies stablehlo.add across dimensions = [0]
// CHECK:       %[[CG:.*]] = stablehlo.subtract %[[G]], %{{.*}}
// CHECK:       %[[VIAVAR:.*]] = stablehlo.multiply %[[XHAT]], %{{.*}}
// CHECK:       %[[INNER:.*]] = stablehlo.subtract %[[CG]], %[[VIAVAR]]
// CHECK:       %[[DX:.*]] = stablehlo.multiply %{{.*}}, %[[INNER]]
// The relu output is read twice (batch norm and the skip path): its
// cotangents are summed.
// CHECK:       stablehlo.add %[[G]], %[[DX]] : tensor<4x2x3x3xf32>
// The optimizer updates scale and shift; the running statistics come back
// as batch norm updated them.
// CHECK:       %[[NS:.*]] = stablehlo.subtract %[[S]], %{{.*}}
// CHECK:       %[[NT:.*]] = stablehlo.subtract %[[T]], %{{.*}}
// CHECK:       return %[[NS]], %[[NT]], %[[NEWM]], %[[NEWV]], %{{.*}} :

// The cpu and gpu forms work channels-last; a per-channel sum is staged
// over W, H, then N, as in the generic forms. All gradients go behind one
// barrier before the updates.
// CPU-LABEL: func.func @train_step
// CPU:       %[[XH:.*]] = stablehlo.transpose %{{.*}}, dims = [0, 2, 3, 1] : (tensor<4x2x3x3xf32>) -> tensor<4x3x3x2xf32>
// CPU-NOT:   dot_general
// CPU:       %[[S0:.*]] = stablehlo.reduce(%{{.*}} init: %{{.*}}) applies stablehlo.add across dimensions = [2] : (tensor<4x3x3x2xf32>, tensor<f32>) -> tensor<4x3x2xf32>
// CPU:       %[[S1:.*]] = stablehlo.reduce(%[[S0]] init: %{{.*}}) applies stablehlo.add across dimensions = [1] : (tensor<4x3x2xf32>, tensor<f32>) -> tensor<4x2xf32>
// CPU:       stablehlo.reduce(%[[S1]] init: %{{.*}}) applies stablehlo.add across dimensions = [0] : (tensor<4x2xf32>, tensor<f32>) -> tensor<2xf32>
// CPU:       stablehlo.broadcast_in_dim %{{.*}}, dims = [3] : (tensor<2xf32>) -> tensor<4x3x3x2xf32>
// CPU:       %[[GAP:.*]] = stablehlo.reduce(%{{.*}} init: %{{.*}}) applies stablehlo.add across dimensions = [2] : (tensor<4x3x3x2xf32>, tensor<f32>) -> tensor<4x3x2xf32>
// CPU:       stablehlo.reduce(%[[GAP]] init: %{{.*}}) applies stablehlo.add across dimensions = [1] : (tensor<4x3x2xf32>, tensor<f32>) -> tensor<4x2xf32>
// CPU:       %[[GRADS:.*]]:4 = stablehlo.optimization_barrier
// CPU-NOT:   stablehlo.optimization_barrier
// CPU:       return

// ONE: error: netspec-to-stablehlo: batch_norm needs more than one value per channel to train, got 1 (batch-size 1, input 'tensor<?x2xf32>')
netspec.model @bn {
  %x = netspec.input : tensor<?x2x3x3xf32>
  %s = netspec.param "bn.weight" init(ones) : tensor<2xf32>
  %t = netspec.param "bn.bias" init(zeros) : tensor<2xf32>
  %m = netspec.param "bn.running_mean" init(zeros) non_trainable : tensor<2xf32>
  %v = netspec.param "bn.running_var" init(ones) non_trainable : tensor<2xf32>
  %r = netspec.relu %x : tensor<?x2x3x3xf32>
  %b = netspec.batch_norm %r, %s, %t, %m, %v epsilon(1.0e-5) momentum(0.1) activation(identity) : tensor<?x2x3x3xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>
  %a = netspec.add %b, %r : tensor<?x2x3x3xf32>, tensor<?x2x3x3xf32>
  %g = netspec.global_avg_pool %a : tensor<?x2x3x3xf32>
  %s2 = netspec.param "bn2.weight" init(ones) : tensor<2xf32>
  %t2 = netspec.param "bn2.bias" init(zeros) : tensor<2xf32>
  %m2 = netspec.param "bn2.running_mean" init(zeros) non_trainable : tensor<2xf32>
  %v2 = netspec.param "bn2.running_var" init(ones) non_trainable : tensor<2xf32>
  %y = netspec.batch_norm %g, %s2, %t2, %m2, %v2 epsilon(1.0e-5) momentum(0.1) activation(identity) : tensor<?x2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>
  netspec.output %y : tensor<?x2xf32>
}
