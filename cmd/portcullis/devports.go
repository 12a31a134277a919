package main

import (
	"fmt"
	"io"
	"net"
)

// devAddr is one address that dev listens on, and the flag that sets it.
type devAddr struct {
	flag, what string
	addr       *string
}

// resolveAddrs checks, before anything starts, that every listen address is
// free. An address left at its default that another program holds moves to
// a free port on the same host, and out says where: a second `make run`, or
// a local Prometheus on 8080, should not stop a newcomer. An address given
// by its flag that is taken is an error naming the flag.
func resolveAddrs(out io.Writer, explicit func(flag string) bool, addrs ...devAddr) error {
	for _, a := range addrs {
		if *a.addr == "" || *a.addr == "0" {
			continue
		}
		l, err := net.Listen("tcp", *a.addr)
		if err == nil {
			_ = l.Close()
			continue
		}
		if explicit(a.flag) {
			return fmt.Errorf("address %s of --%s is not free (%w): stop what uses it or choose another", *a.addr, a.flag, err)
		}
		host, _, splitErr := net.SplitHostPort(*a.addr)
		if splitErr != nil {
			return fmt.Errorf("--%s %q: %w", a.flag, *a.addr, splitErr)
		}
		free, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return fmt.Errorf("address %s of --%s is taken, and no free port on %s was found: %w", *a.addr, a.flag, host, err)
		}
		next := free.Addr().String()
		_ = free.Close()
		fmt.Fprintf(out, "%s is taken: serving %s on %s instead (--%s chooses).\n", *a.addr, a.what, next, a.flag)
		*a.addr = next
	}
	return nil
}
