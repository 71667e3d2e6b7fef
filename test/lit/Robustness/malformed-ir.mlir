// Truncated, garbled and ill-typed netspec IR is rejected with a diagnostic
// and exit status 1: never a crash (signal), a hang or a silent success.
// RUN: %python %S/malformed_corpus.py %inputs/mnist_cnn.mlir | FileCheck %s
// CHECK-NOT: FAILED
// CHECK: corpus: [[N:[0-9]+]] cases, [[N]] rejected with a diagnostic and exit 1

// A few by hand, with the message each gives.
// RUN: printf 'netspec.model @m {\n  %%x = netspec.input : tensor<?x4xf32>\n' \
// RUN:   | not lean-mlir-opt 2>&1 | FileCheck %s --check-prefix=EOF
// EOF: error: expected
// RUN: printf 'netspec.model @m {\n  %%x = netspec.input : tensor<?x4xf32>\n  netspec.output %%x : tensor<?x5xf32>\n}\n' \
// RUN:   | not lean-mlir-opt 2>&1 | FileCheck %s --check-prefix=TYPE
// TYPE: error: use of value '%x' expects different type than prior uses: 'tensor<?x5xf32>' vs 'tensor<?x4xf32>'
// RUN: printf 'netspec.model @m {\n  %%x = netspec.inptu : tensor<?x4xf32>\n}\n' \
// RUN:   | not lean-mlir-opt 2>&1 | FileCheck %s --check-prefix=NAME
// NAME: error: custom op 'netspec.inptu' is unknown
