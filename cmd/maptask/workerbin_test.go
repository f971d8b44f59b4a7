package main

import (
	"runtime/debug"
	"testing"
)

func TestSameBuild(t *testing.T) {
	info := func(version string, settings ...string) *debug.BuildInfo {
		bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/maptask/maptask", Version: version}}
		for i := 0; i+1 < len(settings); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
		}
		return bi
	}
	clean := []string{"vcs.revision", "abc", "vcs.modified", "false", "GOOS", "linux", "GOARCH", "amd64", "CGO_ENABLED", "0"}
	for name, tc := range map[string]struct {
		a, b *debug.BuildInfo
		same bool
	}{
		"same release":        {info("v1.2.0"), info("v1.2.0"), true},
		"other release":       {info("v1.2.0"), info("v1.3.0"), false},
		"same clean revision": {info("(devel)", clean...), info("(devel)", clean...), true},
		"modified tree":       {info("(devel)", "vcs.revision", "abc", "vcs.modified", "true"), info("(devel)", "vcs.revision", "abc", "vcs.modified", "true"), false},
		"no revision":         {info("(devel)"), info("(devel)"), false},
		"other revision":      {info("(devel)", clean...), info("(devel)", "vcs.revision", "def", "vcs.modified", "false", "GOOS", "linux", "GOARCH", "amd64", "CGO_ENABLED", "0"), false},
		"cgo differs":         {info("(devel)", clean...), info("(devel)", append(clean[:8:8], "CGO_ENABLED", "1")...), false},
		"other toolchain":     {info("v1.2.0"), &debug.BuildInfo{GoVersion: "go1.25.0", Main: debug.Module{Path: "github.com/maptask/maptask", Version: "v1.2.0"}}, false},
		"another module":      {info("v1.2.0"), &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "example.com/other", Version: "v1.2.0"}}, false},
	} {
		if got := sameBuild(tc.a, tc.b); got != tc.same {
			t.Errorf("%s: sameBuild = %v, want %v", name, got, tc.same)
		}
	}
}

func TestWorkerBinaryFlagWins(t *testing.T) {
	if got := workerBinary("/opt/w"); got != "/opt/w" {
		t.Errorf("workerBinary(flag) = %q", got)
	}
	// The test binary has no maptask-worker beside it: this maptask is used.
	if got := workerBinary(""); got != "" {
		t.Errorf("workerBinary() = %q, want \"\"", got)
	}
}
