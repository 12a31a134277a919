// Command image builds Portcullis's container image without a container
// engine: it cross-compiles a static portcullis binary, lays it out with CA
// certificates and a non-root user in a single layer, and writes the image
// with go-containerregistry as an OCI image layout and a docker-load tarball,
// with an SPDX SBOM beside them. `make image` runs it.
//
// The image is reproducible: every time in it is the commit time (or
// SOURCE_DATE_EPOCH), tar entries are sorted and carry no owner names, and
// the Go build is -trimpath with fixed flags, so the same commit built with
// the same Go toolchain gives the same digest.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// options say what to build and how to describe it.
type options struct {
	moduleDir  string    // the root of the portcullis module
	outDir     string    // where the image, tarball and SBOM go
	repository string    // the image name without tag, e.g. ghcr.io/portcullis-dev/portcullis
	version    string    // the tag, the image version and `portcullis version`
	revision   string    // the commit hash
	commitTime time.Time // the commit time, stamped into the binary
	created    time.Time // the time written into the image and SBOM
	modified   bool      // the tree had uncommitted changes
	source     string    // the repository URL
	caCerts    string    // the PEM CA bundle copied into the image
}

// result is what a build produced.
type result struct {
	ref          string // repository:version
	digest       string // the manifest digest
	size         int64  // manifest, config and compressed layer, in bytes
	binary       string // the path of the built binary
	sbom         string // the path of the SPDX document
	sbomPackages int
}

func main() {
	opts := options{}
	flag.StringVar(&opts.moduleDir, "module-dir", ".", "The root of the portcullis module.")
	flag.StringVar(&opts.outDir, "out", "bin/image", "The directory the image, tarball and SBOM are written to.")
	flag.StringVar(&opts.repository, "repository", "ghcr.io/portcullis-dev/portcullis", "The image name, without the tag.")
	flag.StringVar(&opts.version, "version", "v0.0.0-dev", "The version: the image tag and what `portcullis version` prints.")
	flag.StringVar(&opts.source, "source", "https://github.com/portcullis-dev/portcullis", "The source repository URL (org.opencontainers.image.source).")
	// The build machine's bundle: on Debian and Ubuntu it is the
	// ca-certificates package's /etc/ssl/certs/ca-certificates.crt, the
	// Mozilla CA list. The image carries whatever the build machine trusts,
	// so build on an up-to-date machine.
	flag.StringVar(&opts.caCerts, "ca-certificates", "/etc/ssl/certs/ca-certificates.crt", "The PEM CA bundle to put in the image.")
	flag.Parse()

	if err := fillFromGit(&opts); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
	res, err := build(context.Background(), opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
	fmt.Printf("image   %s@%s\n", res.ref, res.digest)
	fmt.Printf("size    %d bytes (compressed)\n", res.size)
	fmt.Printf("layout  %s\n", filepath.Join(opts.outDir, "oci"))
	fmt.Printf("tarball %s\n", filepath.Join(opts.outDir, "portcullis.tar"))
	fmt.Printf("sbom    %s (SPDX 2.3, %d packages)\n", res.sbom, res.sbomPackages)
}

// fillFromGit sets the revision, the commit time and the modified flag from
// the git checkout, and the image time from SOURCE_DATE_EPOCH when set (the
// reproducible-builds convention), else from the commit time.
func fillFromGit(opts *options) error {
	git := func(args ...string) (string, error) {
		cmd := exec.Command("git", append([]string{"-C", opts.moduleDir}, args...)...)
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
		}
		return strings.TrimSpace(string(out)), nil
	}
	var err error
	if opts.revision, err = git("rev-parse", "HEAD"); err != nil {
		return err
	}
	epoch, err := git("log", "-1", "--format=%ct")
	if err != nil {
		return err
	}
	if opts.commitTime, err = parseEpoch(epoch); err != nil {
		return err
	}
	// Untracked files are left out: they are not part of the build unless
	// someone forgot to add them, and counting them would mark every build
	// from a checkout with scratch files as modified.
	status, err := git("status", "--porcelain", "--untracked-files=no")
	if err != nil {
		return err
	}
	opts.modified = status != ""
	opts.created = opts.commitTime
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		if opts.created, err = parseEpoch(s); err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH: %w", err)
		}
	}
	return nil
}

func parseEpoch(s string) (time.Time, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("not a Unix time: %q", s)
	}
	return time.Unix(n, 0).UTC(), nil
}

// build compiles the binary and writes the image and SBOM into opts.outDir.
func build(ctx context.Context, opts options) (result, error) {
	if err := os.MkdirAll(opts.outDir, 0o755); err != nil {
		return result{}, err
	}
	res := result{
		ref:    opts.repository + ":" + opts.version,
		binary: filepath.Join(opts.outDir, "portcullis-linux-amd64"),
		sbom:   filepath.Join(opts.outDir, "portcullis.spdx.json"),
	}
	if err := compile(ctx, opts, res.binary); err != nil {
		return result{}, err
	}
	entries, err := rootFS(layerInputs{
		binary:  res.binary,
		caCerts: opts.caCerts,
		license: filepath.Join(opts.moduleDir, "LICENSE"),
		notice:  filepath.Join(opts.moduleDir, "NOTICE"),
	})
	if err != nil {
		return result{}, err
	}
	layer, err := newLayer(entries, opts.created)
	if err != nil {
		return result{}, err
	}
	img, err := newImage(layer, imageMeta{version: opts.version, revision: opts.revision, created: opts.created, source: opts.source})
	if err != nil {
		return result{}, err
	}
	if err := writeOutputs(opts.outDir, img, res.ref); err != nil {
		return result{}, err
	}
	digest, err := img.Digest()
	if err != nil {
		return result{}, err
	}
	res.digest = digest.String()
	if res.size, err = imageSize(img); err != nil {
		return result{}, err
	}
	if err := os.WriteFile(filepath.Join(opts.outDir, "digest"), []byte(res.digest+"\n"), 0o644); err != nil {
		return result{}, err
	}
	res.sbomPackages, err = writeSBOM(res.sbom, sbomInputs{
		binary: res.binary, version: opts.version, revision: opts.revision, created: opts.created, source: opts.source,
	})
	if err != nil {
		return result{}, err
	}
	return res, nil
}

// compile builds a static linux/amd64 portcullis binary. The flags are all
// fixed here rather than taken from the environment's GOFLAGS, so that the
// binary, and so the image digest, depends on the source and the Go
// toolchain only.
func compile(ctx context.Context, opts options, out string) error {
	abs, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	ldflags := strings.Join([]string{
		"-s", "-w", // no symbol table or DWARF: smaller, and nothing path-dependent
		"-X github.com/portcullis-dev/portcullis/internal/version.version=" + opts.version,
		"-X github.com/portcullis-dev/portcullis/internal/version.revision=" + opts.revision,
		"-X github.com/portcullis-dev/portcullis/internal/version.commitTime=" + opts.commitTime.UTC().Format(time.RFC3339),
		"-X github.com/portcullis-dev/portcullis/internal/version.modified=" + strconv.FormatBool(opts.modified),
	}, " ")
	cmd := exec.CommandContext(ctx, "go", "build",
		"-trimpath",
		// The revision is stamped through -X above; git's view of the tree
		// (which vcs.* would record) must not change the binary.
		"-buildvcs=false",
		"-ldflags", ldflags,
		"-o", abs, "./cmd/portcullis")
	cmd.Dir = opts.moduleDir
	// CGO_ENABLED=0 gives a static binary with Go's own DNS resolver and no
	// libc to match; GOAMD64=v1 runs on any amd64 node whatever the builder
	// has set.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOAMD64=v1", "GOFLAGS=")
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/portcullis: %w", err)
	}
	return nil
}

// imageSize is what pulling the image transfers: manifest, config and layers.
func imageSize(img v1.Image) (int64, error) {
	m, err := img.RawManifest()
	if err != nil {
		return 0, err
	}
	c, err := img.RawConfigFile()
	if err != nil {
		return 0, err
	}
	layers, err := img.Layers()
	if err != nil {
		return 0, err
	}
	total := int64(len(m) + len(c))
	for _, l := range layers {
		size, err := l.Size()
		if err != nil {
			return 0, err
		}
		total += size
	}
	return total, nil
}
