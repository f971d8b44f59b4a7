//go:build !linux

package backend

// processRlimit: only Linux is asked; elsewhere the CPU-based bound applies.
func processRlimit() (uint64, bool) { return 0, false }
