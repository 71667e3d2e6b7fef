netspec.model @m {
  %x = netspec.inptu : tensor<?x4xf32>
}
