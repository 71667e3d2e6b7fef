// Bad uses of netspec-to-stablehlo are diagnosed, not crashed on.
// RUN: not lean-mlir-opt %s --netspec-to-stablehlo 2>&1 | FileCheck %s --check-prefix=UNREG
// RUN: not lean-mlir-opt --allow-unregistered-dialect %s --netspec-to-stablehlo="functions=backprop" 2>&1 | FileCheck %s --check-prefix=FN
// RUN: not lean-mlir-opt --allow-unregistered-dialect %s --netspec-to-stablehlo="optimizer=rmsprop" 2>&1 | FileCheck %s --check-prefix=OPT
// RUN: not lean-mlir-opt --allow-unregistered-dialect %s --netspec-to-stablehlo="label-smoothing=1.0" 2>&1 | FileCheck %s --check-prefix=LS
// RUN: not lean-mlir-opt --allow-unregistered-dialect %s --netspec-to-stablehlo="batch-size=0" 2>&1 | FileCheck %s --check-prefix=BATCH
// RUN: not lean-mlir-opt --allow-unregistered-dialect %s --netspec-to-stablehlo="momentum=-1" 2>&1 | FileCheck %s --check-prefix=MOM
// RUN: not lean-mlir-opt --allow-unregistered-dialect %s --netspec-to-stablehlo="target=tpu" 2>&1 | FileCheck %s --check-prefix=TARGET
// RUN: not lean-mlir-opt --allow-unregistered-dialect %s --netspec-to-stablehlo="nesterov=true" 2>&1 | FileCheck %s --check-prefix=NESTEROV
// RUN: not lean-mlir-opt --allow-unregistered-dialect %inputs/two-models.mlir --netspec-to-stablehlo 2>&1 | FileCheck %s --check-prefix=TWO

// UNREG: error: netspec-to-stablehlo: StableHLO is emitted in generic form; allow unregistered dialects (--allow-unregistered-dialect)
// FN: error: netspec-to-stablehlo: unknown function 'backprop'; expected predict, eval, value_and_grad or train_step
// OPT: error: netspec-to-stablehlo: unknown optimizer 'rmsprop'; expected sgd or adam
// LS: error: netspec-to-stablehlo: label-smoothing must be in [0, 1), got 1.0
// BATCH: error: netspec-to-stablehlo: batch-size must be positive, got 0
// MOM: error: netspec-to-stablehlo: momentum and weight-decay must be >= 0
// TARGET: error: netspec-to-stablehlo: unknown target 'tpu'; expected generic, cpu or gpu
// NESTEROV: error: netspec-to-stablehlo: nesterov needs optimizer=sgd and momentum > 0 (it is a way to apply momentum)
// TWO: two-models.mlir:5:1: error: netspec-to-stablehlo lowers one 'netspec.model' per module; this is a second one
// TWO: two-models.mlir:1:1: note: the first model
netspec.model @tiny {
  %x = netspec.input : tensor<?x4xf32>
  %w = netspec.param "w" init(he_normal) : tensor<4x2xf32>
  %b = netspec.param "b" init(zeros) : tensor<2xf32>
  %y = netspec.dense %x, %w, %b activation(identity) : tensor<?x4xf32>, tensor<4x2xf32>, tensor<2xf32>
  netspec.output %y : tensor<?x2xf32>
}
