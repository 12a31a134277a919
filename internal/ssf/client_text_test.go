package ssf_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"unicode"

	"github.com/portcullis-dev/portcullis/internal/ssf"
)

// TestManagementErrorsAreCleaned: a transmitter's error text ends in a
// SignalStream's status.lastError and its Events, which kubectl prints
// as they are: escape sequences, other control characters and
// bidirectional overrides must not survive.
func TestManagementErrorsAreCleaned(t *testing.T) {
	const hostile = "bad\x1b[2J\x1b]8;;https://evil.example\x07click\u202e\r\nme\x00"
	srv := hostileTransmitter(t, func(md map[string]any, w http.ResponseWriter) bool { return false })
	md, err := ssf.Discover(context.Background(), srv.Client(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"err": "invalid_request" + hostile, "description": hostile})
	})
	c := &ssf.StreamClient{HTTP: srv.Client(), Metadata: md, Token: "t0ken-0123456789"}
	_, err = c.Create(context.Background(), &ssf.StreamConfig{Delivery: ssf.StreamDelivery{Method: ssf.MethodPoll}})
	if err == nil {
		t.Fatal("no error")
	}
	for _, r := range err.Error() {
		if !unicode.IsPrint(r) {
			t.Fatalf("unprintable %U in %q", r, err.Error())
		}
	}
	if !strings.Contains(err.Error(), "click") {
		t.Errorf("the description is gone: %q", err.Error())
	}

	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": "https://x.example/" + hostile})
	})
	_, err = ssf.Discover(context.Background(), srv.Client(), srv.URL)
	if err == nil {
		t.Fatal("Discover accepted another issuer")
	}
	for _, r := range err.Error() {
		if !unicode.IsPrint(r) {
			t.Fatalf("unprintable %U in %q", r, err.Error())
		}
	}
}
