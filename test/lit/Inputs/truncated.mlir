netspec.model @m {
  %x = netspec.input : tensor<?x4xf32>
