package main

import (
	"debug/buildinfo"
	"os"
	"path/filepath"
	"runtime/debug"
)

// workerName is the small worker program (cmd/maptask-worker) maptask prefers
// to push as the Kubernetes worker image: it runs commands as maptask does in
// worker mode, without the CLI, the Kubernetes client and the registry code.
const workerName = "maptask-worker"

// workerBinary returns the program the Kubernetes backend pushes as the
// worker image: flag (--worker-binary) when given; else a maptask-worker in
// this maptask's own directory, when both were provably built from the same
// source (sameBuild); else "", which means this maptask. It never fails: a
// missing or different maptask-worker is only not used.
func workerBinary(flag string) string {
	if flag != "" {
		return flag
	}
	self, err := os.Executable()
	if err != nil {
		return ""
	}
	if resolved, err := filepath.EvalSymlinks(self); err == nil {
		self = resolved
	}
	path := filepath.Join(filepath.Dir(self), workerName)
	if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return ""
	}
	mine, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	theirs, err := buildinfo.ReadFile(path)
	if err != nil || !sameBuild(mine, theirs) {
		return ""
	}
	return path
}

// sameBuild reports whether two programs of this module were built from the
// same source with the same toolchain, so that one may stand in for the other
// as a worker: the same module version (a release, or a VCS revision with no
// local modifications), Go version, platform and build tags.
func sameBuild(a, b *debug.BuildInfo) bool {
	if a.GoVersion != b.GoVersion || a.Main.Path != b.Main.Path || a.Main.Version != b.Main.Version || a.Main.Sum != b.Main.Sum {
		return false
	}
	sa, sb := settings(a), settings(b)
	if a.Main.Version == "" || a.Main.Version == "(devel)" {
		// A development build is the same source only at one clean revision.
		if sa["vcs.revision"] == "" || sa["vcs.modified"] != "false" || sb["vcs.modified"] != "false" {
			return false
		}
	}
	for _, k := range []string{"vcs.revision", "vcs.modified", "GOOS", "GOARCH", "-tags", "CGO_ENABLED"} {
		if sa[k] != sb[k] {
			return false
		}
	}
	return true
}

func settings(bi *debug.BuildInfo) map[string]string {
	m := make(map[string]string, len(bi.Settings))
	for _, s := range bi.Settings {
		m[s.Key] = s.Value
	}
	return m
}
