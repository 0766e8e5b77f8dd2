package cuda_test

import (
	"math/rand"
	"strings"

	"wdc/ir"
)

func randomFeeds(g *ir.Graph, seed int64) map[string]*ir.Tensor {
	r := rand.New(rand.NewSource(seed))
	feeds := map[string]*ir.Tensor{}
	for _, v := range g.Inputs {
		t := ir.NewTensor(ir.Float32, v.Type.Shape)
		for i := range t.F {
			t.F[i] = float32(r.Float64()*2 - 1)
		}
		feeds[v.Name] = t
	}
	return feeds
}

// skipPTX in the emulator flags skips the clang-19 checks (already done
// for the same source).
const skipPTX = "-DWDC_NO_PTX_CHECK"

func noPTX(flags []string) bool {
	for _, f := range flags {
		if strings.Contains(f, skipPTX) {
			return true
		}
	}
	return false
}
