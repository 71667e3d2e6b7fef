netspec.model @a {
  %x = netspec.input : tensor<?x2xf32>
  netspec.output %x : tensor<?x2xf32>
}
netspec.model @b {
  %x = netspec.input : tensor<?x2xf32>
  netspec.output %x : tensor<?x2xf32>
}
