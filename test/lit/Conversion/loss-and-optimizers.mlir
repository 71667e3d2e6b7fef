// The loss, the accuracy count, and the optimizer updates of train_step.
// RUN: lean-mlir-opt --allow-unregistered-dialect %s \
// RUN:   --netspec-to-stablehlo="batch-size=4 functions=eval" | iree-opt | FileCheck %s --check-prefix=EVAL
// RUN: lean-mlir-opt --allow-unregistered-dialect %s \
// RUN:   --netspec-to-stablehlo="batch-size=4 functions=train_step label-smoothing=0.1" \
// RUN:   | iree-opt | FileCheck %s --check-prefix=SGD
// RUN: lean-mlir-opt --allow-unregistered-dialect %s \
// RUN:   --netspec-to-stablehlo="batch-size=4 functions=train_step momentum=0.9 weight-decay=0.01" \
// RUN:   | iree-opt | FileCheck %s --check-prefix=MOMENTUM
// RUN: lean-mlir-opt --allow-unregistered-dialect %s \
// RUN:   --netspec-to-stablehlo="batch-size=4 functions=train_step optimizer=adam weight-decay=0.01" \
// RUN:   | iree-opt | FileCheck %s --check-prefix=ADAM

// eval: mean cross-entropy (no smoothing), the number of samples whose
// true-class logit is the row maximum, and the number whose true class has
// fewer than 5 classes scoring strictly higher (top-5).
// EVAL-LABEL: func.func @eval
// EVAL-SAME:  -> (tensor<f32> {netspec.role = "loss"}, tensor<i32> {netspec.role = "correct"}, tensor<i32> {netspec.role = "top5_correct"})
// EVAL:       %[[LOGITS:.*]] = stablehlo.add
// EVAL:       stablehlo.constant dense<-2.500000e-01> : tensor<f32>
// EVAL:       %[[HIT:.*]] = stablehlo.compare GE, %{{.*}}, %{{.*}} : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xi1>
// EVAL:       %[[ONE:.*]] = stablehlo.convert %[[HIT]] : (tensor<4xi1>) -> tensor<4xi32>
// EVAL:       %[[COUNT:.*]] = stablehlo.reduce(%[[ONE]] init: %{{.*}}) applies stablehlo.add across dimensions = [0] : (tensor<4xi32>, tensor<i32>) -> tensor<i32>
// EVAL:       %[[HIGHER:.*]] = stablehlo.compare GT, %{{.*}}, %{{.*}} : (tensor<4x2xf32>, tensor<4x2xf32>) -> tensor<4x2xi1>
// EVAL:       %[[RANK:.*]] = stablehlo.reduce(%{{.*}} init: %{{.*}}) applies stablehlo.add across dimensions = [1] : (tensor<4x2xi32>, tensor<i32>) -> tensor<4xi32>
// EVAL:       %[[FIVE:.*]] = stablehlo.constant dense<5> : tensor<4xi32>
// EVAL:       %[[IN5:.*]] = stablehlo.compare LT, %[[RANK]], %[[FIVE]]
// EVAL:       %[[COUNT5:.*]] = stablehlo.reduce(%{{.*}} init: %{{.*}}) applies stablehlo.add across dimensions = [0] : (tensor<4xi32>, tensor<i32>) -> tensor<i32>
// EVAL:       return %{{.*}}, %[[COUNT]], %[[COUNT5]]

// Plain SGD keeps no state: params, x, y, lr, step -> params', loss.
// Label smoothing 0.1 over 2 classes: target = 0.9 * one_hot + 0.05.
// SGD-LABEL: func.func @train_step
// SGD-SAME:  (%[[W:[^:]*]]: tensor<4x2xf32> {netspec.role = "param:dense_0.weight"}, %[[B:[^:]*]]: tensor<2xf32> {netspec.role = "param:dense_0.bias"}, %{{[^:]*}}: tensor<4x4xf32> {netspec.role = "images"}, %{{[^:]*}}: tensor<4xi32> {netspec.role = "labels"}, %[[LR:[^:]*]]: tensor<f32> {netspec.role = "learning_rate"}, %{{[^:]*}}: tensor<i32> {netspec.role = "step"})
// SGD-SAME:  -> (tensor<4x2xf32> {netspec.role = "param:dense_0.weight"}, tensor<2xf32> {netspec.role = "param:dense_0.bias"}, tensor<f32> {netspec.role = "loss"})
// SGD:       %[[KEEP:.*]] = stablehlo.constant dense<0.899999976> : tensor<4x2xf32>
// SGD:       %[[KEPT:.*]] = stablehlo.multiply %{{.*}}, %[[KEEP]]
// SGD:       %[[SPREAD:.*]] = stablehlo.constant dense<5.000000e-02> : tensor<4x2xf32>
// SGD:       stablehlo.add %[[KEPT]], %[[SPREAD]]
// SGD:       %[[DW:.*]] = stablehlo.dot_general {{.*}} contracting_dims = [0] x [0]
// SGD:       %[[LRW:.*]] = stablehlo.broadcast_in_dim %[[LR]], dims = [] : (tensor<f32>) -> tensor<4x2xf32>
// SGD:       %[[STEPW:.*]] = stablehlo.multiply %[[LRW]], %[[DW]]
// SGD:       %[[NEWW:.*]] = stablehlo.subtract %[[W]], %[[STEPW]]
// SGD:       return %[[NEWW]], %{{.*}}, %{{.*}} : tensor<4x2xf32>, tensor<2xf32>, tensor<f32>

// SGD with momentum: one velocity per parameter, after the parameters.
// MOMENTUM-LABEL: func.func @train_step
// MOMENTUM-SAME:  (%[[W:[^:]*]]: tensor<4x2xf32> {netspec.role = "param:dense_0.weight"}, %{{[^:]*}}: tensor<2xf32> {netspec.role = "param:dense_0.bias"}, %[[VW:[^:]*]]: tensor<4x2xf32> {netspec.role = "state:dense_0.weight:velocity"}, %{{[^:]*}}: tensor<2xf32> {netspec.role = "state:dense_0.bias:velocity"}, %{{[^:]*}}: tensor<4x4xf32>
// The forward product, then the weight gradient x^T g.
// MOMENTUM:       stablehlo.dot_general %{{.*}}, %[[W]], contracting_dims = [1] x [0]
// MOMENTUM:       %[[DW:.*]] = stablehlo.dot_general {{.*}} contracting_dims = [0] x [0]
// g += wd * p
// MOMENTUM:       %[[WD:.*]] = stablehlo.multiply %{{.*}}, %[[W]]
// MOMENTUM:       %[[G:.*]] = stablehlo.add %[[DW]], %[[WD]]
// v = momentum * v + g
// MOMENTUM:       %[[MV:.*]] = stablehlo.multiply %{{.*}}, %[[VW]]
// MOMENTUM:       %[[V:.*]] = stablehlo.add %[[MV]], %[[G]]
// p -= lr * v
// MOMENTUM:       %[[STEP:.*]] = stablehlo.multiply %{{.*}}, %[[V]]
// MOMENTUM:       %[[NEWW:.*]] = stablehlo.subtract %[[W]], %[[STEP]]
// MOMENTUM:       return %[[NEWW]], %{{.*}}, %[[V]], %{{.*}}, %{{.*}}

// Adam: first moments of every parameter, then second moments; the bias
// corrections are computed once per step from t = step + 1.
// ADAM-LABEL: func.func @train_step
// ADAM-SAME:  (%{{[^:]*}}: tensor<4x2xf32> {netspec.role = "param:dense_0.weight"}, %{{[^:]*}}: tensor<2xf32> {netspec.role = "param:dense_0.bias"}, %[[MW:[^:]*]]: tensor<4x2xf32> {netspec.role = "state:dense_0.weight:m"}, %[[MB:[^:]*]]: tensor<2xf32> {netspec.role = "state:dense_0.bias:m"}, %[[VW:[^:]*]]: tensor<4x2xf32> {netspec.role = "state:dense_0.weight:v"}, %[[VB:[^:]*]]: tensor<2xf32> {netspec.role = "state:dense_0.bias:v"}, %{{[^:]*}}: tensor<4x4xf32> {netspec.role = "images"}, %{{[^:]*}}: tensor<4xi32> {netspec.role = "labels"}, %{{[^:]*}}: tensor<f32> {netspec.role = "learning_rate"}, %[[STEP:[^:]*]]: tensor<i32> {netspec.role = "step"})
// ADAM:       %[[T0:.*]] = stablehlo.convert %[[STEP]] : (tensor<i32>) -> tensor<f32>
// ADAM:       %[[T:.*]] = stablehlo.add %[[T0]], %{{.*}} : tensor<f32>
// ADAM:       stablehlo.power %{{.*}}, %[[T]] : tensor<f32>
// ADAM:       stablehlo.power %{{.*}}, %[[T]] : tensor<f32>
// ADAM-NOT:   stablehlo.power
// ADAM:       stablehlo.multiply %{{.*}}, %[[MW]]
// ADAM:       stablehlo.multiply %{{.*}}, %[[VW]]
// ADAM:       stablehlo.sqrt
// ADAM:       stablehlo.constant dense<9.99999993E-9>
// ADAM:       return
netspec.model @tiny {
  %x = netspec.input : tensor<?x4xf32>
  %w = netspec.param "dense_0.weight" init(he_normal) : tensor<4x2xf32>
  %b = netspec.param "dense_0.bias" init(zeros) : tensor<2xf32>
  %y = netspec.dense %x, %w, %b activation(identity) : tensor<?x4xf32>, tensor<4x2xf32>, tensor<2xf32>
  netspec.output %y : tensor<?x2xf32>
}
