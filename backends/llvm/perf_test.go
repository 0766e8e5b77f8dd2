package llvm_test

import (
	"os"
	"syscall"
	"testing"
	"time"

	"wdc/backends/llvm"
	"wdc/runtime/native"
)

func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestPerf measures the CPU time per run of an example on one thread:
// WDC_PERF=resnet18 go test -run TestPerf -v ./backends/llvm
func TestPerf(t *testing.T) {
	name := os.Getenv("WDC_PERF")
	if name == "" {
		t.Skip()
	}
	g := loadExample(t, name)
	feeds := randomFeeds(g, 1)
	dir := t.TempDir()
	if _, err := llvm.Compile(g, dir, llvm.Options{Threads: 1}); err != nil {
		t.Fatal(err)
	}
	m, err := native.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Run(feeds); err != nil {
		t.Fatal(err)
	}
	c0, w0 := cpuNow(), time.Now()
	n := 5
	for i := 0; i < n; i++ {
		if _, err := m.Run(feeds); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%s: cpu %v/run, wall %v/run", name, (cpuNow()-c0)/time.Duration(n), time.Since(w0)/time.Duration(n))
}
