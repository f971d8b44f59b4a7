package main

import "testing"

func TestLoopbackAddr(t *testing.T) {
	for _, tt := range []struct {
		addr     string
		loopback bool
		bad      bool
	}{
		{"127.0.0.1:7777", true, false},
		{"127.0.0.2:0", true, false},
		{"[::1]:80", true, false},
		{"localhost:8080", true, false},
		{"0.0.0.0:7777", false, false},
		{":7777", false, false},
		{"[::]:7777", false, false},
		{"192.168.1.4:7777", false, false},
		{"example.com:7777", false, true},
		{"7777", false, true},
	} {
		got, err := loopbackAddr(tt.addr)
		if got != tt.loopback || (err != nil) != tt.bad {
			t.Errorf("loopbackAddr(%q) = %v, %v; want %v, error %v", tt.addr, got, err, tt.loopback, tt.bad)
		}
	}
}

func TestUIRefusesAPublicAddressWithoutPublic(t *testing.T) {
	t.Setenv("MAPTASK_STORE", t.TempDir())
	if code := run([]string{"ui", "--addr", "0.0.0.0:0"}); code != exitUsage {
		t.Errorf("maptask ui --addr 0.0.0.0:0 exited %d, want %d", code, exitUsage)
	}
}
