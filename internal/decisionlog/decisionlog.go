// Package decisionlog writes an OPA-compatible decision log: one JSON object
// per decision, a line each, to stdout or a file.
package decisionlog

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Entry is one decision, in the shape of OPA's decision log events.
type Entry struct {
	DecisionID  string            `json:"decision_id"`
	Timestamp   string            `json:"timestamp"`
	Path        string            `json:"path"`
	Labels      map[string]string `json:"labels"`
	Input       any               `json:"input,omitempty"`
	InputDigest string            `json:"input_digest,omitempty"`
	Result      any               `json:"result"`
	Revision    string            `json:"revision"`
}

// Logger writes entries; a nil *Logger logs nothing.
type Logger struct {
	mu        sync.Mutex
	w         io.Writer
	closer    io.Closer
	fullInput bool
}

// Open returns a logger for target: "" (off: nil logger), "stdout", or a
// file path, appended to. With fullInput each entry holds the whole input;
// otherwise its SHA-256 digest.
func Open(target string, fullInput bool) (*Logger, error) {
	switch target {
	case "":
		return nil, nil
	case "stdout", "-":
		return &Logger{w: os.Stdout, fullInput: fullInput}, nil
	}
	f, err := os.OpenFile(target, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening decision log %s: %w", target, err)
	}
	return &Logger{w: f, closer: f, fullInput: fullInput}, nil
}

// New returns a logger that writes to w (tests).
func New(w io.Writer, fullInput bool) *Logger {
	return &Logger{w: w, fullInput: fullInput}
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
		Labels:      map[string]string{"app": "portcullis", "grant": subject},
		Result:      result,
		Revision:    revision,
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
