package slurm

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// checkWorkDir checks the execution's work directory dir, the WorkDir above it
// and its out and exit directories: each one that exists must be private (see
// checkPrivate). With create, missing ones are created mode 0700 (and WorkDir's
// missing parents too) and then checked like the others.
func checkWorkDir(dir string, create bool) error {
	base := filepath.Dir(dir)
	if create {
		if err := os.MkdirAll(filepath.Dir(base), 0o700); err != nil {
			return fmt.Errorf("maptask: slurm work directory: %w", err)
		}
	}
	for _, d := range []string{base, dir, filepath.Join(dir, "out"), filepath.Join(dir, "exit")} {
		if create {
			if err := os.Mkdir(d, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("maptask: slurm work directory: %w", err)
			}
		}
		fi, err := os.Lstat(d)
		if !create && errors.Is(err, fs.ErrNotExist) {
			return nil // created by Run; nothing below it exists either
		}
		if err != nil {
			return fmt.Errorf("maptask: slurm work directory: %w", err)
		}
		if err := checkPrivate(d, fi); err != nil {
			return err
		}
	}
	return nil
}

// checkPrivate accepts a directory that no other user can change: a real
// directory (not a symbolic link), owned by this user, not writable by its
// group or others.
func checkPrivate(path string, fi fs.FileInfo) error {
	bad := func(what string) error {
		return fmt.Errorf("maptask: slurm work directory %s %s; it must be a directory of this user's that only this user can write (set Backend.WorkDir or $MAPTASK_SLURM_DIR to use another)", path, what)
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		target, _ := os.Readlink(path)
		return bad(fmt.Sprintf("is a symbolic link (to %s), not a directory", target))
	case !fi.IsDir():
		return bad(fmt.Sprintf("is not a directory (%v)", fi.Mode().Type()))
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return bad(fmt.Sprintf("is owned by uid %d, not by this user (uid %d)", st.Uid, os.Geteuid()))
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return bad(fmt.Sprintf("is writable by its group or others (mode %04o; chmod go-w it)", perm))
	}
	return nil
}

// createFile writes a new file: it fails if path exists, symbolic link or not.
func createFile(path string, data []byte, perm fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// readFile reads a regular file without following a symbolic link at path
// (nor blocking on a FIFO).
func readFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	return io.ReadAll(f)
}

// randomSuffix returns 12 random hex digits for a file name no one can guess.
func randomSuffix() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// userFlag restricts squeue and scancel to this user's jobs.
func userFlag() string { return "--user=" + strconv.Itoa(os.Getuid()) }

// squeueArgs adds userFlag to squeue's arguments: another user's job is never
// looked at, even one whose comment names this execution.
func squeueArgs(args ...string) []string { return append([]string{userFlag()}, args...) }
