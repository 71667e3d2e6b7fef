// netspec-print-graph: one DOT digraph per model on stderr, a node per layer
// (its location's name, op, output shape, trainable parameters), an edge per
// activation read; the residual add reads two. The module is unchanged.
// RUN: lean-mlir-opt %s --netspec-print-graph -o /dev/null 2>&1 | FileCheck %s
// RUN: lean-mlir-opt %s --netspec-print-graph 2>/dev/null | FileCheck %s --check-prefix=IR

// CHECK-LABEL: digraph "res" {
// CHECK:       input [shape=ellipse, label="input\n2x4x4"];
// CHECK:       layer0 [label="c\nconv2d\n2x4x4\n38 params"];
// CHECK-NEXT:  input -> layer0 [label="2x4x4"];
// CHECK:       layer1 [label="skip\nadd\n2x4x4\n0 params"];
// CHECK-DAG:   layer0 -> layer1 [label="2x4x4"];
// CHECK-DAG:   input -> layer1 [label="2x4x4"];
// CHECK:       layer2 [label="flatten\n32\n0 params"];
// CHECK:       layer3 -> output;
// CHECK-NEXT:  }
// IR: netspec.model @res

netspec.model @res {
  %x = netspec.input : tensor<?x2x4x4xf32>
  %w = netspec.param "c.weight" init(he_normal) : tensor<2x2x3x3xf32>
  %b = netspec.param "c.bias" init(zeros) : tensor<2xf32>
  %y = netspec.conv2d %x, %w, %b stride(1) padding(same) activation(relu)
      : tensor<?x2x4x4xf32>, tensor<2x2x3x3xf32>, tensor<2xf32> loc("c")
  %s = netspec.add %y, %x : tensor<?x2x4x4xf32>, tensor<?x2x4x4xf32> loc("skip")
  %f = netspec.flatten %s : tensor<?x2x4x4xf32>
  %dw = netspec.param "d.weight" init(he_normal) : tensor<32x2xf32>
  %db = netspec.param "d.bias" init(zeros) : tensor<2xf32>
  %z = netspec.dense %f, %dw, %db activation(identity)
      : tensor<?x32xf32>, tensor<32x2xf32>, tensor<2xf32>
  netspec.output %z : tensor<?x2xf32>
}
