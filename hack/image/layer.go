package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The user the image runs as: the conventional "nonroot" of distroless
// images, so that runAsNonRoot and PodSecurity "restricted" accept it.
const (
	nonrootUID  = 65532
	nonrootName = "nonroot"
)

// Where things sit in the image. The binary is /portcullis because
// config/manager/manager.yaml runs command ["/portcullis"].
const (
	binaryPath = "portcullis"
	caBundle   = "etc/ssl/certs/ca-certificates.crt"
	docDir     = "usr/share/doc/portcullis"
)

// entry is one file or directory of the layer.
type entry struct {
	name string      // relative, no leading slash; directories end without a slash
	mode fs.FileMode // permission bits, plus fs.ModeDir or fs.ModeSticky
	uid  int
	data []byte // nil for directories
}

// layerInputs are the host files that go into the layer.
type layerInputs struct {
	binary  string // the static portcullis binary
	caCerts string // a PEM CA bundle
	license string // LICENSE
	notice  string // NOTICE
}

// rootFS lists the image's whole file system. It is small on purpose: no
// shell, no package manager, nothing to patch but the binary and the CA
// bundle.
func rootFS(in layerInputs) ([]entry, error) {
	read := func(path string) ([]byte, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading a file for the image: %w", err)
		}
		return b, nil
	}
	binary, err := read(in.binary)
	if err != nil {
		return nil, err
	}
	certs, err := read(in.caCerts)
	if err != nil {
		return nil, err
	}
	license, err := read(in.license)
	if err != nil {
		return nil, err
	}
	notice, err := read(in.notice)
	if err != nil {
		return nil, err
	}
	// passwd and group name the non-root user, so that tools which look the
	// uid up (id, ps, a debugger attached to the pod) show a name.
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\n%[2]s:x:%[1]d:%[1]d:%[2]s:/home/%[2]s:/sbin/nologin\n", nonrootUID, nonrootName)
	group := fmt.Sprintf("root:x:0:\n%[2]s:x:%[1]d:\n", nonrootUID, nonrootName)

	dir := func(name string, mode fs.FileMode, uid int) entry {
		return entry{name: name, mode: fs.ModeDir | mode, uid: uid}
	}
	file := func(name string, mode fs.FileMode, data []byte) entry {
		return entry{name: name, mode: mode, data: data}
	}
	return []entry{
		dir("etc", 0o755, 0),
		file("etc/group", 0o644, []byte(group)),
		file("etc/passwd", 0o644, []byte(passwd)),
		dir("etc/ssl", 0o755, 0),
		dir("etc/ssl/certs", 0o755, 0),
		file(caBundle, 0o644, certs),
		dir("home", 0o755, 0),
		dir("home/"+nonrootName, 0o700, nonrootUID),
		file(binaryPath, 0o755, binary),
		// /tmp exists so that a pod with a read-only root file system can
		// mount an emptyDir over it; the manager itself writes nothing.
		dir("tmp", fs.ModeSticky|0o777, 0),
		dir("usr", 0o755, 0),
		dir("usr/share", 0o755, 0),
		dir("usr/share/doc", 0o755, 0),
		dir(docDir, 0o755, 0),
		file(docDir+"/LICENSE", 0o644, license),
		file(docDir+"/NOTICE", 0o644, notice),
	}, nil
}

// writeTar writes the entries as a tar stream that depends on nothing but
// their contents: sorted by name, every time set to mtime, numeric owners
// only (no user or group names of the build machine), no access or change
// times, and the same header format whatever the host.
func writeTar(w io.Writer, entries []entry, mtime time.Time) error {
	sorted := append([]entry(nil), entries...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].name < sorted[j].name })
	tw := tar.NewWriter(w)
	for _, e := range sorted {
		hdr := &tar.Header{
			Name:    e.name,
			Mode:    int64(e.mode.Perm()),
			Uid:     e.uid,
			Gid:     e.uid,
			ModTime: mtime.UTC().Truncate(time.Second),
			Format:  tar.FormatPAX,
		}
		if e.mode&fs.ModeSticky != 0 {
			hdr.Mode |= 0o1000
		}
		if e.mode.IsDir() {
			hdr.Typeflag = tar.TypeDir
			hdr.Name += "/"
		} else {
			hdr.Typeflag = tar.TypeReg
			hdr.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("tar header %s: %w", e.name, err)
		}
		if e.data != nil {
			if _, err := tw.Write(e.data); err != nil {
				return fmt.Errorf("tar %s: %w", e.name, err)
			}
		}
	}
	return tw.Close()
}

// newLayer builds the one OCI layer of the image. go-containerregistry
// gzips it with the standard library's compress/gzip, which writes no time
// or file name into the gzip header, so the compressed digest is as stable
// as the tar.
func newLayer(entries []entry, mtime time.Time) (v1.Layer, error) {
	var buf bytes.Buffer
	if err := writeTar(&buf, entries, mtime); err != nil {
		return nil, err
	}
	raw := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(raw)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
}
