package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"debug/elf"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestImage builds the image twice from the same inputs, checks that both
// builds are byte-for-byte the same, then opens the OCI layout the way a
// runtime would and checks what is inside, down to running the binary.
// Nothing is downloaded: go build reads the module cache, and the CA bundle
// is a certificate made here.
func TestImage(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("the test runs the linux/amd64 binary it builds")
	}
	dir := t.TempDir()
	commit := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	opts := options{
		moduleDir:  "../..",
		repository: "example.test/portcullis",
		version:    "v9.8.7-test",
		revision:   "0123456789abcdef0123456789abcdef01234567",
		commitTime: commit,
		created:    commit,
		source:     "https://github.com/portcullis-dev/portcullis",
		caCerts:    writeTestCA(t, dir),
	}
	ctx := context.Background()
	opts.outDir = filepath.Join(dir, "first")
	first, err := build(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	opts.outDir = filepath.Join(dir, "second")
	second, err := build(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("reproducible", func(t *testing.T) {
		if first.digest != second.digest {
			t.Errorf("two builds of the same inputs differ: %s and %s", first.digest, second.digest)
		}
		for _, f := range []string{"portcullis.tar", "portcullis.spdx.json", "oci/index.json"} {
			a, errA := os.ReadFile(filepath.Join(dir, "first", f))
			b, errB := os.ReadFile(filepath.Join(dir, "second", f))
			if err := errors.Join(errA, errB); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a, b) {
				t.Errorf("%s differs between two builds", f)
			}
		}
		t.Logf("%s@%s, %d bytes", first.ref, first.digest, first.size)
	})

	img := openLayout(t, filepath.Join(dir, "first", "oci"), first.digest)
	t.Run("config", func(t *testing.T) { checkConfig(t, img, opts) })
	files := extract(t, img, commit)
	t.Run("files", func(t *testing.T) { checkFiles(t, files, opts) })
	t.Run("binary", func(t *testing.T) { checkBinary(t, files["portcullis"].data, dir, opts) })
	t.Run("tarball", func(t *testing.T) {
		// The docker-load tarball holds the same image.
		timg, err := tarball.ImageFromPath(filepath.Join(dir, "first", "portcullis.tar"), nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := timg.ConfigName()
		want, err2 := img.ConfigName()
		if err := errors.Join(err, err2); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("tarball config %s, layout config %s", got, want)
		}
	})
	t.Run("sbom", func(t *testing.T) { checkSBOM(t, first.sbom, opts) })
}

// openLayout reads the image from an OCI layout and checks the index names it
// with the expected digest.
func openLayout(t *testing.T, dir, digest string) v1.Image {
	t.Helper()
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 1 || m.Manifests[0].Digest.String() != digest {
		t.Fatalf("layout index: %+v, want one manifest %s", m.Manifests, digest)
	}
	if ref := m.Manifests[0].Annotations["org.opencontainers.image.ref.name"]; ref != "v9.8.7-test" {
		t.Errorf("layout ref.name %q", ref)
	}
	img, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func checkConfig(t *testing.T, img v1.Image, opts options) {
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Config.User != "65532:65532" {
		t.Errorf("user %q, want 65532:65532", cfg.Config.User)
	}
	if cfg.OS != "linux" || cfg.Architecture != "amd64" {
		t.Errorf("platform %s/%s", cfg.OS, cfg.Architecture)
	}
	if !cfg.Created.Equal(opts.created) {
		t.Errorf("created %v, want %v", cfg.Created, opts.created)
	}
	if len(cfg.Config.Entrypoint) != 1 || cfg.Config.Entrypoint[0] != "/portcullis" {
		t.Errorf("entrypoint %q", cfg.Config.Entrypoint)
	}
	manifest, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"org.opencontainers.image.source":   opts.source,
		"org.opencontainers.image.revision": opts.revision,
		"org.opencontainers.image.version":  opts.version,
		"org.opencontainers.image.created":  "2026-11-28T12:00:00Z",
		"org.opencontainers.image.licenses": "Apache-2.0",
	}
	for k, v := range want {
		if got := cfg.Config.Labels[k]; got != v {
			t.Errorf("label %s = %q, want %q", k, got, v)
		}
		if got := manifest.Annotations[k]; got != v {
			t.Errorf("annotation %s = %q, want %q", k, got, v)
		}
	}
}

// file is one entry of the extracted file system.
type file struct {
	hdr  *tar.Header
	data []byte
}

// extract flattens the image with mutate.Extract, as a runtime would unpack
// it, and checks every entry's metadata is free of build-machine noise.
func extract(t *testing.T, img v1.Image, mtime time.Time) map[string]file {
	t.Helper()
	rc := mutate.Extract(img)
	defer func() { _ = rc.Close() }()
	tr := tar.NewReader(rc)
	files := map[string]file{}
	var names []string
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(hdr.Name, "/")
		names = append(names, name)
		files[name] = file{hdr: hdr, data: data}
		if !hdr.ModTime.Equal(mtime) || hdr.Uname != "" || hdr.Gname != "" {
			t.Errorf("%s: mtime %v, owner %q:%q; want %v and no names", name, hdr.ModTime, hdr.Uname, hdr.Gname, mtime)
		}
	}
	if !sort.StringsAreSorted(names) {
		t.Errorf("layer entries are not sorted: %q", names)
	}
	return files
}

func checkFiles(t *testing.T, files map[string]file, opts options) {
	certs, err := os.ReadFile(opts.caCerts)
	if err != nil {
		t.Fatal(err)
	}
	if got := files["etc/ssl/certs/ca-certificates.crt"].data; !bytes.Equal(got, certs) {
		t.Errorf("CA bundle: %d bytes, want the %d of %s", len(got), len(certs), opts.caCerts)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(files["etc/ssl/certs/ca-certificates.crt"].data) {
		t.Error("the CA bundle holds no certificate")
	}
	if !strings.Contains(string(files["etc/passwd"].data), "nonroot:x:65532:65532:") {
		t.Errorf("etc/passwd:\n%s", files["etc/passwd"].data)
	}
	if h := files["home/nonroot"].hdr; h == nil || h.Uid != 65532 {
		t.Errorf("home/nonroot is not owned by 65532: %+v", h)
	}
	for _, f := range []string{"usr/share/doc/portcullis/LICENSE", "usr/share/doc/portcullis/NOTICE"} {
		if len(files[f].data) == 0 {
			t.Errorf("%s is missing", f)
		}
	}
	bin := files["portcullis"]
	if bin.hdr == nil || bin.hdr.Mode&0o111 == 0 || bin.hdr.Uid != 0 {
		t.Fatalf("portcullis: %+v, want an executable owned by root (the non-root user cannot replace it)", bin.hdr)
	}
}

// checkBinary checks the binary is a static ELF and runs it.
func checkBinary(t *testing.T, data []byte, dir string, opts options) {
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the binary is dynamically linked: it has a %v program header", p.Type)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs %v", libs)
	}
	if f.Machine != elf.EM_X86_64 {
		t.Errorf("machine %v", f.Machine)
	}
	runVersion(t, data, dir, opts)
}

// runVersion runs the extracted binary's version command, plain and JSON.
func runVersion(t *testing.T, data []byte, dir string, opts options) {
	bin := filepath.Join(dir, "extracted-portcullis")
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("portcullis version: %v\n%s", err, out)
	}
	line := string(out)
	for _, want := range []string{"portcullis " + opts.version, "revision " + opts.revision, "2026-11-28T12:00:00Z", runtime.Version()} {
		if !strings.Contains(line, want) {
			t.Errorf("portcullis version: %q lacks %q", line, want)
		}
	}
	out, err = exec.Command(bin, "version", "-o", "json").Output()
	if err != nil {
		t.Fatalf("portcullis version -o json: %v", err)
	}
	var v struct {
		Version, Revision, CommitTime string
		Modified                      bool
	}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("portcullis version -o json: %v\n%s", err, out)
	}
	if v.Version != opts.version || v.Revision != opts.revision || v.CommitTime != "2026-11-28T12:00:00Z" || v.Modified {
		t.Errorf("portcullis version -o json: %+v", v)
	}
}

func checkSBOM(t *testing.T, path string, opts options) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc spdxDocument
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.SPDXVersion != "SPDX-2.3" || doc.CreationInfo.Created != "2026-11-28T12:00:00Z" {
		t.Errorf("SBOM header: %s, created %s", doc.SPDXVersion, doc.CreationInfo.Created)
	}
	names := map[string]string{}
	ids := map[string]bool{}
	for _, p := range doc.Packages {
		names[p.Name] = p.VersionInfo
		if ids[p.SPDXID] {
			t.Errorf("SPDXID %s is used twice", p.SPDXID)
		}
		ids[p.SPDXID] = true
	}
	if names["github.com/portcullis-dev/portcullis"] != opts.version || names["stdlib"] != runtime.Version() || names["github.com/spf13/cobra"] == "" {
		t.Errorf("SBOM packages lack the binary, the standard library or cobra: %d packages", len(doc.Packages))
	}
	if len(doc.Relationships) != len(doc.Packages) {
		t.Errorf("%d relationships for %d packages", len(doc.Relationships), len(doc.Packages))
	}
}

// writeTestCA writes a PEM bundle with one self-signed certificate, standing
// in for the build machine's CA bundle.
func writeTestCA(t *testing.T, dir string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Portcullis image test CA"},
		NotBefore:             time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2036, 1, 1, 0, 0, 0, 0, time.UTC),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ca-certificates.crt")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
