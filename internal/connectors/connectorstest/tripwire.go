// Package connectorstest holds what the connectors' tests share.
package connectorstest

import (
	"errors"
	"net"
	"os"
	"strconv"
	"testing"
	"time"
)

// Tripwire is a loopback TCP port that records whether anything connected
// to it: the address of a system that a connector must refuse to contact.
type Tripwire struct {
	Host string
	Port int
	ln   *net.TCPListener
}

// NewTripwire listens on a free loopback port until the test ends.
func NewTripwire(t testing.TB) *Tripwire {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return &Tripwire{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, ln: ln}
}

// Addr is host:port.
func (w *Tripwire) Addr() string { return net.JoinHostPort(w.Host, strconv.Itoa(w.Port)) }

// Connected reports whether a connection was made before the call: the
// kernel completes the handshake of a connection that nobody accepted yet,
// so one made earlier is waiting to be accepted now.
func (w *Tripwire) Connected(t testing.TB) bool {
	t.Helper()
	if err := w.ln.SetDeadline(time.Now().Add(200 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	conn, err := w.ln.Accept()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.Close()
	return true
}
