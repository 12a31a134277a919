// Package decisionlog writes an OPA-compatible decision log: one JSON object
// per decision, a line each, to stdout or a file.
package decisionlog

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sync"
	"time"
)

// Entry is one decision, in the shape of OPA's decision log events: the
// policy set's revision sits under bundles (OPA's deprecated top-level
// revision field is not written), and labels carry OPA's id and version.
type Entry struct {
	DecisionID  string                `json:"decision_id"`
	Timestamp   string                `json:"timestamp"`
	Path        string                `json:"path"`
	Labels      map[string]string     `json:"labels"`
	Bundles     map[string]BundleInfo `json:"bundles"`
	Input       any                   `json:"input,omitempty"`
	InputDigest string                `json:"input_digest,omitempty"`
	Result      any                   `json:"result"`
}

// BundleInfo is a bundle's revision, as OPA logs it.
type BundleInfo struct {
	Revision string `json:"revision"`
}

// Bundle is the name under which the policy set's revision is logged.
const Bundle = "portcullis"

// Logger writes entries; a nil *Logger logs nothing.
type Logger struct {
	mu        sync.Mutex
	w         io.Writer
	closer    io.Closer
	fullInput bool
	// id tells this manager process's entries apart (OPA's labels.id).
	id string
}

// instanceID names this process: the host name (the pod's name in a
// cluster) and a random suffix, as a restarted pod is another instance.
func instanceID() string {
	host, _ := os.Hostname()
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	if host == "" {
		return hex.EncodeToString(suffix)
	}
	return host + "-" + hex.EncodeToString(suffix)
}

// opaVersion is the version of the OPA module the binary embeds (OPA's
// labels.version), read from the build info.
var opaVersion = func() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, m := range info.Deps {
		if m.Path == "github.com/open-policy-agent/opa" {
			return m.Version
		}
	}
	return "unknown"
}()

// Open returns a logger for target: "" (off: nil logger), "stdout", or a
// file path, appended to. With fullInput each entry holds the whole input;
// otherwise its SHA-256 digest.
func Open(target string, fullInput bool) (*Logger, error) {
	switch target {
	case "":
		return nil, nil
	case "stdout", "-":
		return &Logger{w: os.Stdout, fullInput: fullInput, id: instanceID()}, nil
	}
	f, err := os.OpenFile(target, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening decision log %s: %w", target, err)
	}
	return &Logger{w: f, closer: f, fullInput: fullInput, id: instanceID()}, nil
}

// New returns a logger that writes to w (tests).
func New(w io.Writer, fullInput bool) *Logger {
	return &Logger{w: w, fullInput: fullInput, id: instanceID()}
}

// Log writes one decision about subject. The decision id is derived from
// the subject, the time and the input digest.
func (l *Logger) Log(subject string, at time.Time, input, result any, revision string) error {
	if l == nil {
		return nil
	}
	raw, err := json.Marshal(input)
	if err != nil {
		return fmt.Errorf("encoding decision input: %w", err)
	}
	sum := sha256.Sum256(raw)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	id := sha256.Sum256([]byte(subject + "\x00" + at.UTC().Format(time.RFC3339Nano) + "\x00" + digest))
	e := Entry{
		DecisionID:  hex.EncodeToString(id[:16]),
		Timestamp:   at.UTC().Format(time.RFC3339Nano),
		Path:        "portcullis/grants",
		Labels:      map[string]string{"id": l.id, "version": opaVersion, "app": "portcullis", "grant": subject},
		Bundles:     map[string]BundleInfo{Bundle: {Revision: revision}},
		Result:      result,
		InputDigest: digest,
	}
	if l.fullInput {
		e.Input = json.RawMessage(raw)
	}
	line, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encoding decision log entry: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err = l.w.Write(append(line, '\n'))
	return err
}

// Close closes a file log.
func (l *Logger) Close() error {
	if l == nil || l.closer == nil {
		return nil
	}
	return l.closer.Close()
}
