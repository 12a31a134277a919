package chaos

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/portcullis-dev/portcullis/test/freeport"
)

// Manager runs `portcullis manager` as a child process that the suite can
// SIGKILL and start again with the same or other flags.
type Manager struct {
	// Binary is the portcullis binary; Kubeconfig reaches the API server.
	Binary, Kubeconfig string
	// CredentialsNamespace is the manager's namespace: credentials, the
	// guard's window and the policies' last good sources live there.
	CredentialsNamespace string
	// LogPath receives the output of every run, one after the other.
	LogPath string

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}
	probe  string
	flags  []string
	starts int
	kills  int
}

// Start starts the manager with the suite's fixed flags plus extra. It
// returns once the process runs; use WaitReady to wait for its caches.
func (m *Manager) Start(extra ...string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		return errors.New("the manager is already running")
	}
	probe, err := freeport.Addr()
	if err != nil {
		return err
	}
	metrics, err := freeport.Addr()
	if err != nil {
		return err
	}
	args := []string{"manager", "--kubeconfig", m.Kubeconfig,
		"--credentials-namespace", m.CredentialsNamespace,
		"--metrics-bind-address", metrics, "--health-probe-bind-address", probe,
		"--graceful-shutdown-timeout", "5s", "--zap-log-level", "info"}
	args = append(args, extra...)
	logs, err := os.OpenFile(m.LogPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	m.starts++
	fmt.Fprintf(logs, "\n===== chaos: start %d at %s: %s %s\n", m.starts, time.Now().Format(time.RFC3339Nano),
		m.Binary, strings.Join(args, " "))
	cmd := exec.Command(m.Binary, args...)
	cmd.Stdout, cmd.Stderr = logs, logs
	// The manager dies with the suite, even when the suite itself is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logs.Close()
		return fmt.Errorf("starting %s manager (run `make build` first): %w", m.Binary, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = logs.Close()
		close(done)
	}()
	m.cmd, m.done, m.probe, m.flags = cmd, done, probe, extra
	return nil
}

// Flags are the extra flags of the running (or last) manager.
func (m *Manager) Flags() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.flags...)
}

// Kills is how many times the manager was SIGKILLed.
func (m *Manager) Kills() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.kills
}

// WaitReady waits until the manager's /readyz answers 200: its caches have
// synced and it reaches the API server.
func (m *Manager) WaitReady(ctx context.Context, timeout time.Duration) error {
	m.mu.Lock()
	probe, done := m.probe, m.done
	m.mu.Unlock()
	if done == nil {
		return errors.New("the manager is not running")
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hc := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+probe+"/readyz", nil)
		if resp, err := hc.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-done:
			return fmt.Errorf("the manager exited before it was ready; see %s", m.LogPath)
		case <-ctx.Done():
			return fmt.Errorf("the manager was not ready within %s; see %s", timeout, m.LogPath)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (m *Manager) Kill() error {
	return m.stop(syscall.SIGKILL, true)
}

// Stop asks the manager to stop (SIGTERM), then kills it if it lingers.
func (m *Manager) Stop() error {
	return m.stop(syscall.SIGTERM, false)
}

func (m *Manager) stop(sig syscall.Signal, counted bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return nil
	}
	if err := m.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-m.done:
	case <-time.After(15 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.done
	}
	if counted {
		m.kills++
	}
	m.cmd, m.done = nil, nil
	return nil
}

// Restart kills the manager and starts it again with extra flags.
func (m *Manager) Restart(ctx context.Context, extra ...string) error {
	if err := m.Kill(); err != nil {
		return err
	}
	if err := m.Start(extra...); err != nil {
		return err
	}
	return m.WaitReady(ctx, 60*time.Second)
}

// HasFlag reports whether the binary's manager command knows a flag, such
// as --system-concurrency, that only some versions have.
func HasFlag(binary, flag string) bool {
	out, err := exec.Command(binary, "manager", "--help").CombinedOutput()
	return err == nil && strings.Contains(string(out), "--"+flag+" ")
}
