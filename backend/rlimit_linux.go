package backend

import "syscall"

// processRlimit returns RLIMIT_NPROC, the processes this user may have, when
// it is finite.
func processRlimit() (uint64, bool) {
	const rlimitNPROC = 6 // not in package syscall
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(rlimitNPROC, &rl); err != nil || rl.Cur == ^uint64(0) {
		return 0, false
	}
	return rl.Cur, true
}
