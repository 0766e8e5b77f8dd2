package roofline

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestMeasure(t *testing.T) {
	if _, err := exec.LookPath("clang-14"); err != nil {
		t.Skip("clang-14 not installed")
	}
	m, err := Measure(Options{Quick: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(m)
	if m.PeakFLOPSPerCore < 1e9 || m.PeakFLOPS < m.PeakFLOPSPerCore || m.BandwidthBytes < 1e8 || m.Cores < 1 {
		t.Errorf("implausible machine: %+v", m)
	}
}

func TestCache(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "machine.json")
	want := &Machine{PeakFLOPS: 2e11, PeakFLOPSPerCore: 1e11, BandwidthBytes: 2e10, BandwidthPerCore: 1.5e10, Cores: 2, Source: "measured"}
	if err := want.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	// A cached file is used without measuring (Clang would fail).
	got, err := Load(Options{CachePath: path, Clang: "no-such-clang"})
	if err != nil {
		t.Fatal(err)
	}
	if *got != *want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if got.Peak(1) != 1e11 || got.Peak(2) != 2e11 || got.Bandwidth(1) != 1.5e10 || got.Ridge() != 10 {
		t.Errorf("Peak/Bandwidth/Ridge: %v %v %v %v", got.Peak(1), got.Peak(2), got.Bandwidth(1), got.Ridge())
	}
	// Force re-measures: with a missing compiler that is a clear error.
	if _, err := Load(Options{CachePath: path, Clang: "no-such-clang", Force: true}); err == nil {
		t.Error("Force with a missing compiler did not fail")
	} else {
		t.Log(err)
	}
	// WDC_MACHINE overrides the cache.
	other := filepath.Join(dir, "other.json")
	os.WriteFile(other, []byte(`{"peak_flops": 5e10, "bandwidth_bytes": 1e10, "cores": 1}`), 0o644)
	t.Setenv("WDC_MACHINE", other)
	got, err = Load(Options{CachePath: path})
	if err != nil {
		t.Fatal(err)
	}
	if got.PeakFLOPS != 5e10 || got.PeakFLOPSPerCore != 5e10 {
		t.Errorf("WDC_MACHINE not used: %+v", got)
	}
	os.WriteFile(other, []byte(`{"peak_flops": 0}`), 0o644)
	if _, err := Load(Options{CachePath: path}); err == nil {
		t.Error("a machine file with zero peak was accepted")
	}
}
