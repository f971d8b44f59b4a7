package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"testing"
)

// --public is documented as allowing an --addr that is not loopback, but it
// is passed to the console as Options.Public whatever the address, and
// Options.Public turns off the Host check that defends a loopback console
// against DNS rebinding. `maptask ui --public` on its default 127.0.0.1
// address then serves a page of attacker.example (rebound to 127.0.0.1),
// which can read every input and log and, the X-Maptask-Console header being
// same-origin for it, cancel and change maps.
func TestUIPublicOnLoopbackRefusesOtherHosts(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	cmd := newRootCmd()
	cmd.SetArgs([]string{"ui", "--store", filepath.Join(t.TempDir(), "store"), "--addr", "127.0.0.1:0", "--public"})
	cmd.SetOut(pw)
	cmd.SetErr(io.Discard)
	done := make(chan error, 1)
	go func() {
		done <- cmd.ExecuteContext(ctx)
		pw.Close()
	}()
	defer func() {
		cancel()
		<-done
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("maptask ui: %v", err)
	}
	go io.Copy(io.Discard, pr)
	base := regexp.MustCompile(`http://127\.0\.0\.1:\d+`).FindString(line)
	if base == "" {
		t.Fatalf("maptask ui printed %q", line)
	}
	req, _ := http.NewRequest("GET", base+"/api/executions", nil)
	req.Host = "attacker.example:80"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("maptask ui --public on 127.0.0.1 answered Host attacker.example with %s, want 403 (the DNS-rebinding check)", resp.Status)
	}
}
