netspec.model @m {
  %x = netspec.input : tensor<?x4xf32>
  netspec.output %x : tensor<?x5xf32>
}
