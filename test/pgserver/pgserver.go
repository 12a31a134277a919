// Package pgserver runs a throwaway PostgreSQL server for tests: initdb in
// a temporary directory and a postmaster on a free loopback port, with
// password authentication. It needs the PostgreSQL server binaries
// (Debian's postgresql package); as root it runs them as the postgres user.
package pgserver

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis-dev/portcullis/test/freeport"
)

// Superuser and Password are the server's administrator credentials.
const (
	Superuser = "portcullis"
	Password  = "pg-admin-secret"
)

// Server is a running PostgreSQL server.
type Server struct {
	Host    string
	Port    int
	dir     string
	bin     string
	cred    *syscall.Credential
	logFile string
}

// Start initialises and starts a server, stopped when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := binDir()
	if err != nil {
		t.Fatal(err)
	}
	// Not t.TempDir: its parent is private to this user, and the server may
	// run as another one.
	dir, err := os.MkdirTemp("", "pgserver-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	s := &Server{Host: "127.0.0.1", bin: bin, dir: dir}
	if err := s.init(); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	return s
}

// binDir finds initdb and pg_ctl: on PATH, or in Debian's versioned directory.
func binDir() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Dir(real), nil
		}
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(matches) == 0 {
		return "", errors.New("no PostgreSQL server binaries (pg_ctl): install Debian's postgresql package")
	}
	return filepath.Dir(matches[len(matches)-1]), nil
}

func (s *Server) init() error {
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fmt.Errorf("running as root needs the postgres user to own the server: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(s.dir, uid, gid); err != nil {
			return err
		}
	}
	pwfile := filepath.Join(s.dir, "pw")
	if err := os.WriteFile(pwfile, []byte(Password+"\n"), 0o600); err != nil {
		return err
	}
	if s.cred != nil {
		if err := os.Chown(pwfile, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			return err
		}
	}
	port, err := freeport.Port()
	if err != nil {
		return err
	}
	s.Port = port
	s.logFile = filepath.Join(s.dir, "server.log")
	return s.run("initdb", "-D", s.data(), "-U", Superuser, "--pwfile", pwfile, "-A", "scram-sha-256", "-E", "UTF8", "--no-sync")
}

func (s *Server) data() string { return filepath.Join(s.dir, "data") }

// Start starts (or restarts) the server and waits until it accepts connections.
func (s *Server) Start() error {
	opts := fmt.Sprintf("-p %d -h %s -k %s -c fsync=off -c max_connections=50", s.Port, s.Host, s.dir)
	return s.run("pg_ctl", "-D", s.data(), "-l", s.logFile, "-o", opts, "-w", "-t", "60", "start")
}

// Stop stops the server at once.
func (s *Server) Stop() error {
	return s.run("pg_ctl", "-D", s.data(), "-m", "immediate", "-w", "stop")
}

func (s *Server) run(name string, args ...string) error {
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Dir = s.dir
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(s.logFile)
		return fmt.Errorf("%s %v: %w\n%s\n%s", name, args, err, out, log)
	}
	return nil
}

// DSN is a connection string for user and password.
func (s *Server) DSN(user, password string) string {
	return fmt.Sprintf("host=%s port=%d dbname=postgres user=%s password=%s sslmode=disable connect_timeout=5",
		s.Host, s.Port, user, password)
}

// WaitGone waits until the port no longer accepts connections.
func (s *Server) WaitGone() {
	for range 50 {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(s.Host, strconv.Itoa(s.Port)), 100*time.Millisecond)
		if err != nil {
			return
		}
		_ = c.Close()
		time.Sleep(100 * time.Millisecond)
	}
}
