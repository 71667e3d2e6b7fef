// Truncated, garbled and ill-typed netspec IR is rejected with a diagnostic
// and exit status 1: never a crash (signal), a hang or a silent success.
// RUN: %python %S/malformed_corpus.py %inputs/mnist_cnn.mlir | FileCheck %s
// CHECK-NOT: FAILED
// CHECK: corpus: [[N:[0-9]+]] cases, [[N]] rejected with a diagnostic and exit 1

// A few by hand, with the message each gives.
// RUN: not lean-mlir-opt %inputs/truncated.mlir 2>&1 | FileCheck %s --check-prefix=EOF
// EOF: truncated.mlir:2:39: error: expected operation name in quotes
// RUN: not lean-mlir-opt %inputs/mismatched-type.mlir 2>&1 | FileCheck %s --check-prefix=TYPE
// TYPE: mismatched-type.mlir:3:18: error: use of value '%x' expects different type than prior uses: 'tensor<?x5xf32>' vs 'tensor<?x4xf32>'
// RUN: not lean-mlir-opt %inputs/misspelled-op.mlir 2>&1 | FileCheck %s --check-prefix=NAME
// NAME: misspelled-op.mlir:2:8: error: custom op 'netspec.inptu' is unknown
