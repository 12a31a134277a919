package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// imageMeta is what the image says about itself.
type imageMeta struct {
	version  string
	revision string
	created  time.Time // the commit time or SOURCE_DATE_EPOCH, never the wall clock
	source   string    // the repository URL
}

// labels are the OCI annotation keys (image-spec annotations.md), set both
// as config labels (what docker inspect and most scanners read) and as
// manifest annotations (what registries and crane read).
func (m imageMeta) labels() map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       "portcullis",
		"org.opencontainers.image.description": "Portcullis, a Kubernetes access-policy controller for contractor identities",
		"org.opencontainers.image.source":      m.source,
		"org.opencontainers.image.revision":    m.revision,
		"org.opencontainers.image.version":     m.version,
		"org.opencontainers.image.created":     m.created.UTC().Format(time.RFC3339),
		"org.opencontainers.image.licenses":    "Apache-2.0",
	}
}

// newImage assembles the single-layer image. Every time in it is
// m.created, the config and manifest are OCI media types, and nothing of
// the build machine (user names, host name, wall clock) gets in.
func newImage(layer v1.Layer, m imageMeta) (v1.Image, error) {
	created := v1.Time{Time: m.created.UTC().Truncate(time.Second)}
	uid := strconv.Itoa(nonrootUID)
	cfg := &v1.ConfigFile{
		Architecture: "amd64",
		OS:           "linux",
		Created:      created,
		Config: v1.Config{
			// Numeric, so the kubelet can check runAsNonRoot without
			// reading /etc/passwd.
			User:       uid + ":" + uid,
			Entrypoint: []string{"/" + binaryPath},
			Cmd:        []string{"manager"},
			WorkingDir: "/home/" + nonrootName,
			Env: []string{
				"PATH=/",
				"HOME=/home/" + nonrootName,
				"SSL_CERT_FILE=/" + caBundle,
			},
			Labels: m.labels(),
		},
		RootFS: v1.RootFS{Type: "layers"},
	}
	img, err := mutate.ConfigFile(empty.Image, cfg)
	if err != nil {
		return nil, err
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer: layer,
		History: v1.History{
			Created:   created,
			CreatedBy: "hack/image (make image): the static portcullis binary, CA certificates, passwd and group",
			Comment:   "portcullis " + m.version,
		},
	})
	if err != nil {
		return nil, err
	}
	annotated, ok := mutate.Annotations(img, m.labels()).(v1.Image)
	if !ok {
		return nil, fmt.Errorf("annotating the image: not an image")
	}
	return annotated, nil
}

// writeOutputs writes img as an OCI image layout in dir/oci (for crane,
// skopeo, podman and containerd) and as dir/portcullis.tar (for docker load
// and crane push), both naming it ref.
func writeOutputs(dir string, img v1.Image, ref string) error {
	tag, err := name.NewTag(ref)
	if err != nil {
		return fmt.Errorf("image name %q: %w", ref, err)
	}
	ociDir := filepath.Join(dir, "oci")
	// A layout's index.json accumulates images; start afresh so that the
	// directory holds this build only.
	if err := os.RemoveAll(ociDir); err != nil {
		return err
	}
	p, err := layout.Write(ociDir, empty.Index)
	if err != nil {
		return fmt.Errorf("writing the OCI layout: %w", err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": tag.TagStr(),
		// containerd and nerdctl import by this full name.
		"io.containerd.image.name": tag.Name(),
	})); err != nil {
		return fmt.Errorf("writing the OCI layout: %w", err)
	}
	if err := tarball.WriteToFile(filepath.Join(dir, "portcullis.tar"), tag, img); err != nil {
		return fmt.Errorf("writing the image tarball: %w", err)
	}
	return nil
}
