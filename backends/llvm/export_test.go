package llvm

// SetFusePoolMin sets the least conv result whose max pool is fused into
// the product (fusePoolMin) and returns a function restoring it.
func SetFusePoolMin(n int) (restore func()) {
	old := fusePoolMin
	fusePoolMin = n
	return func() { fusePoolMin = old }
}
