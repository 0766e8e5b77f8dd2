package cuda_test

import (
	"math/rand"

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
