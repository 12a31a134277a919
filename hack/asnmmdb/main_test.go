package main

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/portcullis-dev/portcullis/internal/signals"
)

func TestConvertsRangesTheEnricherReads(t *testing.T) {
	dir := t.TempDir()
	v4 := filepath.Join(dir, "asn-ipv4.csv")
	v6 := filepath.Join(dir, "asn-ipv6.csv")
	if err := os.WriteFile(v4, []byte("1.0.0.0,1.0.0.255,13335,\"Cloudflare, Inc.\"\n192.88.99.0,192.88.99.255,6939,Hurricane Electric LLC\n167.99.0.0,167.99.255.255,14061,\"DigitalOcean, LLC\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(v6, []byte("2001::,2001::ffff:ffff:ffff:ffff:ffff:ffff,6939,Hurricane Electric LLC\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "asn.mmdb")
	if err := run(out, []string{v4, v6}); err != nil {
		t.Fatal(err)
	}
	e, err := signals.OpenEnricher(signals.EnricherOptions{ASNDB: out})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = e.Close() }()
	for ip, want := range map[string]uint32{"167.99.12.5": 14061, "1.0.0.1": 13335, "2001::1": 6939, "192.88.99.1": 6939, "8.8.8.8": 0} {
		if g := e.Enrich(netip.MustParseAddr(ip)); g.ASN != want {
			t.Errorf("%s: ASN %d, want %d", ip, g.ASN, want)
		}
	}
	bad := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(bad, []byte("1.0.0.0,not-an-address,1,x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := run(filepath.Join(dir, "bad.mmdb"), []string{bad}); err == nil {
		t.Error("a bad row was accepted")
	}
}
