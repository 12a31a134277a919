// Package freeport finds free TCP ports on loopback for the servers that
// tests and the bench harness start.
package freeport

import (
	"fmt"
	"net"
)

// Port returns a TCP port on 127.0.0.1 that was free a moment ago.
func Port() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Addr returns "127.0.0.1:<port>" for a free port.
func Addr() (string, error) {
	port, err := Port()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("127.0.0.1:%d", port), nil
}
