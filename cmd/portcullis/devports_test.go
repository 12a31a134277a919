package main

import (
	"net"
	"strings"
	"testing"
)

func TestResolveAddrsMovesATakenDefaultAndRefusesATakenFlag(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = held.Close() }()
	taken := held.Addr().String()

	addr := taken
	var out strings.Builder
	if err := resolveAddrs(&out, func(string) bool { return false }, devAddr{"metrics-bind-address", "metrics", &addr}); err != nil {
		t.Fatalf("a taken default: %v", err)
	}
	if addr == taken || !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Errorf("the taken default %s moved to %s, want another port on 127.0.0.1", taken, addr)
	}
	if want := taken + " is taken: serving metrics on " + addr; !strings.Contains(out.String(), want) {
		t.Errorf("output %q lacks %q", out.String(), want)
	}

	addr = taken
	err = resolveAddrs(&out, func(string) bool { return true }, devAddr{"metrics-bind-address", "metrics", &addr})
	if err == nil || !strings.Contains(err.Error(), "of --metrics-bind-address is not free") || addr != taken {
		t.Errorf("a taken address given by its flag: %v (address %s), want an error naming the flag", err, addr)
	}

	free, off := "127.0.0.1:0", "0"
	if err := resolveAddrs(&out, func(string) bool { return false },
		devAddr{"a", "a", &free}, devAddr{"b", "b", &off}); err != nil || free != "127.0.0.1:0" || off != "0" {
		t.Errorf("free and turned-off addresses changed: %v %s %s", err, free, off)
	}
}
