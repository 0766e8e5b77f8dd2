package passes

import (
	"wdc/ir"
	"wdc/passes/wd"
)

func init() {
	Register(Pass{
		Name: "verify",
		Doc:  "check that the graph is well formed (single assignment, defined operands, types agree with shape rules)",
		Run:  func(g *ir.Graph) error { return g.Verify() },
	})
	Register(Pass{
		Name: "shape-inference",
		Doc:  "recompute every node's result type from its op's shape rule, in topological order",
		Run:  InferShapes,
	})
	Register(Pass{
		Name: "work-depth",
		Doc:  "check that every node's Work-Depth formula evaluates (wdc cost prints the analysis)",
		Run: func(g *ir.Graph) error {
			_, err := wd.Analyze(g)
			return err
		},
	})

	RegisterPipeline("default", "verify the graph and infer its shapes",
		"verify", "shape-inference")
	RegisterPipeline("analysis", "the default pipeline, then the Work-Depth analysis",
		"verify", "shape-inference", "work-depth")
}
