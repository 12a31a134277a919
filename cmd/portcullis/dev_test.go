package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/manager"
	"github.com/portcullis-dev/portcullis/test/freeport"
	"github.com/portcullis-dev/portcullis/test/syncbuf"
)

// buildBinary builds portcullis into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "portcullis")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building portcullis: %v\n%s", err, out)
	}
	return bin
}

func controlPlaneDir(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir
	}
	dir, err := filepath.Abs(filepath.Join("..", "..", defaultControlPlaneDir))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "kube-apiserver")); err != nil {
		t.Fatalf("no control plane in %s and KUBEBUILDER_ASSETS is not set: run `make controlplane` or `make test`", dir)
	}
	return dir
}

// TestDevRunsAndStopsCleanly runs `portcullis dev` as a process, waits until
// the samples are readable through the kubeconfig it printed, sends the
// sample sign-ins with `portcullis ingest` and waits for the laptop farm's
// grant to be quarantined, interrupts it and checks that etcd and
// kube-apiserver are gone with the data directory.
func TestDevRunsAndStopsCleanly(t *testing.T) {
	bin := buildBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	ingestAddr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	d := startDevUntilRunning(ctx, t, bin, "--ingest-bind-address="+ingestAddr)
	defer func() { _ = d.cmd.Process.Kill() }()
	kubeconfig := d.kubeconfig
	sendSampleSignIns(ctx, t, bin, "http://"+ingestAddr, filepath.Join(filepath.Dir(kubeconfig), "ingest-token"))
	waitForGrantState(ctx, t, d.client, client.ObjectKey{Namespace: "contractors", Name: "casey-payments-edit"}, accessv1alpha1.GrantQuarantined)
	expectLibraryReason(ctx, t, d.client, client.ObjectKey{Namespace: "contractors", Name: "casey-payments-edit"})
	expectSameAsEval(ctx, t, bin, d.client)
	expectContractorRisk(ctx, t, d.client, client.ObjectKey{Namespace: "contractors", Name: "casey-novak"})
	expectBrokenPolicyRefused(ctx, t, d.client)
	stopDev(t, d)
	if _, err := os.Stat(filepath.Dir(kubeconfig)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the temporary data directory %s is still there: %v", filepath.Dir(kubeconfig), err)
	}
}

// expectBrokenPolicyRefused applies an AccessPolicy that does not compile:
// the dev manager's webhook refuses it with policy:line:col.
func expectBrokenPolicyRefused(ctx context.Context, t *testing.T, c client.Client) {
	t.Helper()
	broken := &accessv1alpha1.AccessPolicy{ObjectMeta: metav1.ObjectMeta{Name: "broken"},
		Spec: accessv1alpha1.AccessPolicySpec{Rego: "package broken\n\nrevoke contains r if {\n\tr := input.nope(\n}\n"}}
	err := c.Create(ctx, broken)
	if err == nil || !regexp.MustCompile(`spec\.rego: Invalid value: broken:\d+:\d+: `).MatchString(err.Error()) {
		t.Errorf("a policy that does not compile: %v, want a refusal with broken:line:col", err)
	}
}

func waitForSamples(ctx context.Context, t *testing.T, kubeconfig string, stderr *syncbuf.Buffer) client.Client {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatalf("reading the kubeconfig that dev wrote: %v", err)
	}
	scheme, err := manager.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	key := client.ObjectKey{Namespace: "contractors", Name: "alex-payments-edit"}
	for {
		grant := &accessv1alpha1.AccessGrant{}
		err := c.Get(ctx, key, grant)
		if err == nil && len(grant.Status.Conditions) > 0 {
			return c
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the sample grant %s never became readable with a status: %v\nportcullis dev said:\n%s", key, err, stderr.Tail(4096))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// sendSampleSignIns runs `portcullis ingest` with the sample sign-ins: one
// of them is bad on purpose, so it exits with 2 and names it.
func sendSampleSignIns(ctx context.Context, t *testing.T, bin, url, tokenFile string) {
	t.Helper()
	samples := filepath.Join("..", "..", "config", "samples", "signins.ndjson")
	out, err := exec.CommandContext(ctx, bin, "ingest", "-f", samples, "--replay", "--url", url, "--token-file", tokenFile).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("portcullis ingest: %v (want exit status 2 for the bad sample event)\n%s", err, out)
	}
	for _, want := range []string{"6 events", "5 accepted", "1 rejected", `event 5: ip "not-an-address" is not an IP address`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("ingest output lacks %q:\n%s", want, out)
		}
	}
}

func waitForGrantState(ctx context.Context, t *testing.T, c client.Client, key client.ObjectKey, state accessv1alpha1.GrantState) {
	t.Helper()
	for {
		grant := &accessv1alpha1.AccessGrant{}
		err := c.Get(ctx, key, grant)
		if err == nil && grant.Status.Enforcement != nil && grant.Status.Enforcement.State == state {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("grant %s never became %s: %v %+v", key, state, err, grant.Status)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// childPIDs lists the processes whose parent is pid.
func childPIDs(t *testing.T, pid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var children []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The fields after the parenthesised command name: state, ppid, ...
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			children = append(children, child)
		}
	}
	return children
}

func processAlive(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}

func processName(pid int) string {
	comm, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
	return strings.TrimSpace(string(comm))
}

func TestDevExplainsMissingBinaries(t *testing.T) {
	bin := buildBinary(t)
	out, err := exec.Command(bin, "dev", "--control-plane-dir", t.TempDir(),
		"--metrics-bind-address=0", "--health-probe-bind-address=0").CombinedOutput()
	if err == nil {
		t.Fatalf("dev succeeded without binaries:\n%s", out)
	}
	for _, want := range []string{"kube-apiserver is missing", "make controlplane"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestDevRestartsWithAKeptDataDir starts dev twice on one data directory:
// the second start finds the first one's objects, and each stop leaves no
// process behind.
func TestDevRestartsWithAKeptDataDir(t *testing.T) {
	bin := buildBinary(t)
	dataDir := t.TempDir()
	var uid string
	for run := range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		// The second run applies no samples (they are kept) and still
		// installs the default policy library.
		d := startDevUntilRunning(ctx, t, bin, "--data-dir", dataDir, fmt.Sprintf("--samples=%t", run == 0))
		if !strings.Contains(d.stdout, "Installed the default policy library") || strings.Contains(d.stdout, "Applied the samples") == (run == 1) {
			t.Errorf("run %d printed:\n%s", run, d.stdout)
		}
		grant := &accessv1alpha1.AccessGrant{}
		if err := d.client.Get(ctx, client.ObjectKey{Namespace: "contractors", Name: "alex-payments-edit"}, grant); err != nil {
			t.Fatal(err)
		}
		if run == 1 && string(grant.UID) != uid {
			t.Errorf("the restart did not keep the first run's objects: grant UID %s, was %s", grant.UID, uid)
		}
		uid = string(grant.UID)
		stopDev(t, d)
		cancel()
	}
}

// devProcess is a running `portcullis dev`.
type devProcess struct {
	cmd        *exec.Cmd
	stderr     *syncbuf.Buffer
	kubeconfig string
	client     client.Client
	// stdout is what dev printed up to running the manager.
	stdout string
}

// startDevUntilRunning starts dev and reads its output up to the line that
// says the samples are applied and the manager is starting; later flags
// win over the defaults it passes.
func startDevUntilRunning(ctx context.Context, t *testing.T, bin string, args ...string) *devProcess {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, append([]string{"dev", "--control-plane-dir", controlPlaneDir(t),
		"--metrics-bind-address=0", "--health-probe-bind-address=0", "--ingest-bind-address=0", "--geoip-dir="}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &syncbuf.Buffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	scanner := bufio.NewScanner(stdout)
	kubeconfig, running := "", false
	var printed strings.Builder
	for !running && scanner.Scan() {
		printed.WriteString(scanner.Text() + "\n")
		line := strings.TrimSpace(scanner.Text())
		if path, ok := strings.CutPrefix(line, "export KUBECONFIG="); ok {
			kubeconfig = path
		}
		running = strings.Contains(line, "Running the manager")
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	if kubeconfig == "" || !running {
		t.Fatalf("portcullis dev stopped before running the manager:\n%s", stderr.Tail(4096))
	}
	return &devProcess{cmd: cmd, stderr: stderr, kubeconfig: kubeconfig, client: waitForSamples(ctx, t, kubeconfig, stderr),
		stdout: printed.String()}
}

// stopDev interrupts dev and checks that it exits cleanly, with its etcd
// and kube-apiserver.
func stopDev(t *testing.T, d *devProcess) {
	t.Helper()
	children := childPIDs(t, d.cmd.Process.Pid)
	if len(children) < 2 {
		t.Fatalf("want etcd and kube-apiserver as children of portcullis dev, found pids %v", children)
	}
	if err := d.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Wait(); err != nil {
		t.Fatalf("portcullis dev did not exit cleanly on SIGINT: %v\n%s", err, d.stderr.Tail(4096))
	}
	for _, pid := range children {
		if processAlive(pid) {
			t.Errorf("process %d (%s) still runs after portcullis dev stopped", pid, processName(pid))
		}
	}
}

func TestDevExplainsTakenPort(t *testing.T) {
	bin := buildBinary(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	out, err := exec.Command(bin, "dev", "--control-plane-dir", controlPlaneDir(t), "--apiserver-port", port,
		"--metrics-bind-address=0", "--health-probe-bind-address=0").CombinedOutput()
	if err == nil {
		t.Fatalf("dev succeeded on a taken port:\n%s", out)
	}
	if want := "port " + port + " on 127.0.0.1 is not free"; !strings.Contains(string(out), want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
}

// expectLibraryReason waits until the grant's decision carries a reason of
// the default library's risk policy, which dev installs with the samples.
func expectLibraryReason(ctx context.Context, t *testing.T, c client.Client, key client.ObjectKey) {
	t.Helper()
	for {
		grant := &accessv1alpha1.AccessGrant{}
		if err := c.Get(ctx, key, grant); err == nil && grant.Status.Decision != nil {
			for _, r := range grant.Status.Decision.Reasons {
				if r.Policy == "risk" {
					return
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("grant %s never got a reason of the default library's risk policy", key)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
