// Package devenv runs a local control plane for trying Portcullis without a
// cluster: etcd and kube-apiserver from bin/k8s on loopback, the CRDs
// installed, the samples applied, and a kubeconfig written for kubectl.
package devenv

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/portcullis-dev/portcullis/config/crd"
)

// ErrBinariesMissing is returned when kube-apiserver or etcd is not in the
// assets directory.
var ErrBinariesMissing = errors.New("control-plane binaries not found")

// Options configure the local control plane.
type Options struct {
	// AssetsDir holds the kube-apiserver and etcd binaries.
	AssetsDir string
	// DataDir keeps etcd's data, the certificates and the kubeconfig. Empty
	// means a temporary directory that Stop removes.
	DataDir string
	// APIServerPort is the kube-apiserver's port on 127.0.0.1; 0 picks a free one.
	APIServerPort int
	// Output receives the control plane's own logs; nil discards them.
	Output io.Writer
}

// Env is a running local control plane.
type Env struct {
	// Config reaches the API server as an administrator.
	Config *rest.Config
	// KubeconfigPath is where the kubeconfig for kubectl was written.
	KubeconfigPath string
	// DataDir is the directory holding the control plane's state.
	DataDir string

	env     *envtest.Environment
	tempDir bool
}

// Start checks the binaries and the port, starts etcd and kube-apiserver,
// installs the CRDs and writes a kubeconfig.
func Start(opts Options) (*Env, error) {
	if err := checkBinaries(opts.AssetsDir); err != nil {
		return nil, err
	}
	if err := checkPortFree(opts.APIServerPort); err != nil {
		return nil, err
	}
	crds, err := loadCRDs()
	if err != nil {
		return nil, err
	}
	dataDir, temp, err := prepareDataDir(opts.DataDir)
	if err != nil {
		return nil, err
	}
	if err := forgetServingCert(dataDir); err != nil {
		return nil, err
	}
	e := &Env{DataDir: dataDir, tempDir: temp, env: newEnvironment(opts, dataDir, crds)}
	if e.Config, err = e.start(); err != nil {
		return nil, errors.Join(fmt.Errorf("starting etcd and kube-apiserver: %w", err), e.cleanup())
	}
	e.KubeconfigPath = filepath.Join(dataDir, "kubeconfig")
	if err := os.WriteFile(e.KubeconfigPath, e.env.KubeConfig, 0o600); err != nil {
		return nil, errors.Join(fmt.Errorf("writing kubeconfig: %w", err), e.Stop())
	}
	return e, nil
}

// start starts the control plane; a failure, even a panic in the test
// framework, stops whatever had started.
func (e *Env) start() (cfg *rest.Config, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = errors.Join(fmt.Errorf("%v", p), e.env.Stop())
		}
	}()
	return e.env.Start()
}

// forgetServingCert removes the API server's serving certificate that a
// kept data directory holds from an earlier run: its CA is not kept, so
// kube-apiserver gets a new certificate and the kubeconfig a new CA. etcd's
// data, and so every object, stays.
func forgetServingCert(dataDir string) error {
	for _, name := range []string{"apiserver.crt", "apiserver.key"} {
		if err := os.Remove(filepath.Join(dataDir, "pki", name)); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("removing the previous run's %s: %w", name, err)
		}
	}
	return nil
}

// etcdQuota is the local etcd's space quota, 8 GiB.
const etcdQuota = 8 << 30

func newEnvironment(opts Options, dataDir string, crds []*apiextensionsv1.CustomResourceDefinition) *envtest.Environment {
	out := opts.Output
	if out == nil {
		out = io.Discard
	}
	etcd := &envtest.Etcd{DataDir: filepath.Join(dataDir, "etcd"), Out: out, Err: out}
	// etcd's default 2 GiB quota fills up with the revisions of a bench
	// run of tens of thousands of grants; the data directory is local and
	// disposable.
	etcd.Configure().Set("quota-backend-bytes", strconv.Itoa(etcdQuota))
	apiServer := &envtest.APIServer{CertDir: filepath.Join(dataDir, "pki"), Out: out, Err: out}
	if opts.APIServerPort != 0 {
		apiServer.Address = "127.0.0.1"
		apiServer.Port = strconv.Itoa(opts.APIServerPort)
	}
	return &envtest.Environment{
		BinaryAssetsDirectory: opts.AssetsDir,
		CRDInstallOptions:     envtest.CRDInstallOptions{CRDs: crds},
		ControlPlane:          envtest.ControlPlane{Etcd: etcd, APIServer: apiServer},
	}
}

// Stop stops kube-apiserver and etcd and removes a temporary data directory.
func (e *Env) Stop() error {
	err := e.env.Stop()
	if err != nil {
		err = fmt.Errorf("stopping control plane: %w", err)
	}
	return errors.Join(err, e.cleanup())
}

func (e *Env) cleanup() error {
	if !e.tempDir {
		return nil
	}
	return os.RemoveAll(e.DataDir)
}

func checkBinaries(dir string) error {
	for _, name := range []string{"kube-apiserver", "etcd"} {
		path := filepath.Join(dir, name)
		info, err := os.Stat(path)
		if err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
			return fmt.Errorf("%w: %s is missing or not executable; run `make controlplane` (or hack/build-controlplane.sh) to build kube-apiserver and etcd, or point --control-plane-dir at them",
				ErrBinariesMissing, path)
		}
	}
	return nil
}

func checkPortFree(port int) error {
	if port == 0 {
		return nil
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("port %d on 127.0.0.1 is not free for kube-apiserver (%w): stop what uses it or pick another --apiserver-port (0 picks a free one)", port, err)
	}
	return l.Close()
}

func prepareDataDir(dir string) (string, bool, error) {
	if dir == "" {
		tmp, err := os.MkdirTemp("", "portcullis-dev-")
		if err != nil {
			return "", false, fmt.Errorf("creating temporary data directory: %w", err)
		}
		return tmp, true, makeDirs(tmp)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", false, fmt.Errorf("resolving data directory %s: %w", dir, err)
	}
	return abs, false, makeDirs(abs)
}

// makeDirs creates the data directory with its etcd and pki folders.
func makeDirs(dataDir string) error {
	for _, dir := range []string{dataDir, filepath.Join(dataDir, "etcd"), filepath.Join(dataDir, "pki")} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("creating data directory %s: %w", dir, err)
		}
	}
	return nil
}

// loadCRDs parses the embedded CRDs.
func loadCRDs() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	var crds []*apiextensionsv1.CustomResourceDefinition
	err := fs.WalkDir(crd.Bases, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := crd.Bases.ReadFile(path)
		if err != nil {
			return err
		}
		c := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(data, c); err != nil {
			return fmt.Errorf("parsing CRD %s: %w", path, err)
		}
		crds = append(crds, c)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("loading embedded CRDs: %w", err)
	}
	return crds, nil
}
