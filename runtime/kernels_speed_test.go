package runtime

import (
	"testing"
	"time"

	"wdc/ir"
)

// TestConvSpeed checks that a ResNet-sized 3x3 convolution (1x64x56x56,
// 64 -> 64, 116 MMACs) runs well within a few seconds.
func TestConvSpeed(t *testing.T) {
	x := randT(1, ir.Shape{1, 64, 56, 56})
	w := randT(2, ir.Shape{64, 64, 3, 3})
	start := time.Now()
	y := mustRun(t, "conv", ir.Attrs{"pads": ints(1, 1, 1, 1)}, x, w)
	el := time.Since(start)
	wantShape(t, y, ir.Shape{1, 64, 56, 56})
	macs := 64.0 * 56 * 56 * 64 * 9
	t.Logf("conv3x3 1x64x56x56: %v, %.2f GMAC/s", el, macs/el.Seconds()/1e9)
	if el > 3*time.Second {
		t.Fatalf("conv took %v, want well under a few seconds", el)
	}
}
