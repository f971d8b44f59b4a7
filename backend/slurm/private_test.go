package slurm

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// createFile never writes through a symbolic link nor over an existing file.
func TestCreateFileIsExclusive(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	os.Symlink(target, link)
	dangling := filepath.Join(dir, "dangling")
	os.Symlink(filepath.Join(dir, "nothing"), dangling)
	for _, p := range []string{target, link, dangling} {
		if err := createFile(p, []byte("planted"), 0o600); err == nil {
			t.Errorf("createFile(%s) succeeded", p)
		}
	}
	if data, _ := os.ReadFile(target); string(data) != "mine" {
		t.Errorf("target now holds %q", data)
	}
	if _, err := os.Stat(filepath.Join(dir, "nothing")); err == nil {
		t.Error("created the dangling link's target")
	}
	p := filepath.Join(dir, "new")
	if err := createFile(p, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
}

// readFile does not follow a symbolic link, nor wait on a FIFO.
func TestReadFileNoFollow(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	os.WriteFile(target, []byte("0\n"), 0o600)
	if data, err := readFile(target); err != nil || string(data) != "0\n" {
		t.Fatalf("%q, %v", data, err)
	}
	link := filepath.Join(dir, "link")
	os.Symlink(target, link)
	if _, err := readFile(link); !errors.Is(err, syscall.ELOOP) {
		t.Errorf("reading a symbolic link: %v, want ELOOP", err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := readFile(fifo); done <- err }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("read a FIFO")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("readFile blocked on a FIFO")
	}
}

// Every squeue call asks about this user's jobs only.
func TestSqueueArgsOwnUser(t *testing.T) {
	args := squeueArgs("--noheader")
	if !slices.Contains(args, "--user="+strconv.Itoa(os.Getuid())) {
		t.Errorf("squeue %v: not restricted to uid %d", args, os.Getuid())
	}
}
