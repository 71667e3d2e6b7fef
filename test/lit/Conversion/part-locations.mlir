// Every op the lowering builds says which layer and part of the program it
// belongs to: loc("<part>"(<the layer's location>)), for the tools that map
// ops and IREE's dispatches back to layers (lean-mlir explain).
// RUN: lean-mlir-opt --allow-unregistered-dialect %s --mlir-print-debuginfo \
// RUN:   --netspec-to-stablehlo="batch-size=2 functions=train_step target=cpu momentum=0.9" \
// RUN:   | FileCheck %s

// The forward convolution, the parts of its VJP (the first layer needs no
// input gradient), the dense layer's, the loss, the optimizer updates (owned
// by the parameter they update) and the hoisted filter re-layouts.
// CHECK-DAG: #[[CONV:loc[0-9]*]] = loc("c"(
// CHECK-DAG: #[[DENSE:loc[0-9]*]] = loc("d"(
// CHECK-DAG: #[[OUT:loc[0-9]*]] = loc("net.output")
// CHECK-DAG: loc("forward"(#[[CONV]]))
// CHECK-DAG: loc("weight gradient"(#[[CONV]]))
// CHECK-DAG: loc("bias gradient"(#[[CONV]]))
// CHECK-DAG: loc("layout"(#[[CONV]]))
// CHECK-DAG: loc("weight gradient"(#[[DENSE]]))
// CHECK-DAG: loc("bias gradient"(#[[DENSE]]))
// CHECK-DAG: loc("input gradient"(#[[DENSE]]))
// CHECK-DAG: loc("backward"(
// CHECK-DAG: loc("loss"(#[[OUT]]))
// CHECK-DAG: loc("optimizer"(#[[CONV]]))
// CHECK-DAG: loc("optimizer"(#[[DENSE]]))

netspec.model @net {
  %x = netspec.input : tensor<?x2x4x4xf32> loc("net.input")
  %w = netspec.param "c.weight" init(he_normal) : tensor<3x2x3x3xf32> loc(#c)
  %b = netspec.param "c.bias" init(zeros) : tensor<3xf32> loc(#c)
  %y = netspec.conv2d %x, %w, %b stride(1) padding(same) activation(relu)
      : tensor<?x2x4x4xf32>, tensor<3x2x3x3xf32>, tensor<3xf32> loc(#c)
  %f = netspec.flatten %y : tensor<?x3x4x4xf32> loc(#f)
  %dw = netspec.param "d.weight" init(he_normal) : tensor<48x2xf32> loc(#d)
  %db = netspec.param "d.bias" init(zeros) : tensor<2xf32> loc(#d)
  %z = netspec.dense %f, %dw, %db activation(identity)
      : tensor<?x48xf32>, tensor<48x2xf32>, tensor<2xf32> loc(#d)
  netspec.output %z : tensor<?x2xf32> loc("net.output")
} loc("net")
#c = loc("c"("model.py":3:0))
#f = loc("f"("model.py":4:0))
#d = loc("d"("model.py":5:0))
