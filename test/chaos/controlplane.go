// Package chaos holds the harness of the chaos suite (make chaos): a local
// control plane that can be restarted on its own data, the manager as a
// child process that can be killed, a scripted webhook receiver, a real
// PostgreSQL server, and the checks that every transition reached every
// system. The scenarios are in the package's tests; docs/chaos.md says what
// they do.
package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/portcullis-dev/portcullis/config/admission"
	"github.com/portcullis-dev/portcullis/internal/devenv"
	"github.com/portcullis-dev/portcullis/internal/manifests"
	"github.com/portcullis-dev/portcullis/test/freeport"
)

// ControlPlane is etcd and kube-apiserver on a kept data directory and a
// fixed port, reached through a pass-through proxy.
//
// devenv mints a new CA and a new admin certificate on every start, so a
// kubeconfig written before a restart is refused after it. The proxy holds
// the current admin credentials and serves plain HTTP on loopback: the
// manager and the test keep one address across restarts of the API server,
// and see what they would see in a cluster while it restarts (failed
// requests, broken watches), not a changed identity.
type ControlPlane struct {
	opts  devenv.Options
	env   *devenv.Env
	proxy *proxy
	// Kubeconfig reaches the API server through the proxy.
	Kubeconfig string
	// Config is the rest.Config of Kubeconfig.
	Config *rest.Config
}

// StartControlPlane starts the control plane in dataDir and installs the
// admission policies, as `portcullis dev` does.
func StartControlPlane(ctx context.Context, assets, dataDir string, logs io.Writer) (*ControlPlane, error) {
	port, err := freeport.Port()
	if err != nil {
		return nil, err
	}
	cp := &ControlPlane{opts: devenv.Options{AssetsDir: assets, DataDir: dataDir, APIServerPort: port, Output: logs}}
	if cp.env, err = devenv.Start(cp.opts); err != nil {
		return nil, err
	}
	if cp.proxy, err = startProxy(cp.env.Config); err != nil {
		return nil, errors.Join(err, cp.env.Stop())
	}
	cp.Config = &rest.Config{Host: "http://" + cp.proxy.addr, QPS: 200, Burst: 400}
	cp.Kubeconfig = filepath.Join(dataDir, "chaos.kubeconfig")
	if err := writeKubeconfig(cp.Kubeconfig, cp.Config.Host); err != nil {
		return nil, errors.Join(err, cp.Stop())
	}
	if err := cp.applyAdmission(ctx); err != nil {
		return nil, errors.Join(err, cp.Stop())
	}
	return cp, nil
}

// Restart stops kube-apiserver and etcd, waits down, and starts them again
// on the same data and port. Like `portcullis dev`, it removes the
// admission policies first and installs them again after the start, so that
// kube-apiserver does not refuse grants for a minute while it finds the
// ConnectedSystem kind again.
func (cp *ControlPlane) Restart(ctx context.Context, down time.Duration) error {
	if err := cp.removeAdmission(ctx); err != nil {
		return err
	}
	// Like a load balancer in front of a stopping API server: refuse new
	// requests and end the open ones, watches included, so that
	// kube-apiserver has nothing to drain and stops at once.
	cp.proxy.cut()
	if err := cp.env.Stop(); err != nil && cp.opts.Output != nil {
		// envtest killed what did not stop in time: a harder restart.
		fmt.Fprintf(cp.opts.Output, "chaos: stopping the control plane: %v\n", err)
	}
	cp.env = nil
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(down):
	}
	env, err := devenv.Start(cp.opts)
	if err != nil {
		return fmt.Errorf("starting the control plane again: %w", err)
	}
	cp.env = env
	if err := cp.proxy.use(env.Config); err != nil {
		return err
	}
	return cp.applyAdmission(ctx)
}

// Stop stops the proxy and the control plane.
func (cp *ControlPlane) Stop() error {
	var errs []error
	if cp.proxy != nil {
		errs = append(errs, cp.proxy.close())
	}
	if cp.env != nil {
		errs = append(errs, cp.env.Stop())
		cp.env = nil
	}
	return errors.Join(errs...)
}

func (cp *ControlPlane) adminClient() (client.Client, error) {
	return client.New(cp.Config, client.Options{})
}

func (cp *ControlPlane) applyAdmission(ctx context.Context) error {
	objs, err := manifests.DecodeFS(admission.Files, admission.Pattern)
	if err != nil {
		return err
	}
	c, err := cp.adminClient()
	if err != nil {
		return err
	}
	return manifests.Apply(ctx, c, "portcullis-chaos", objs)
}

func (cp *ControlPlane) removeAdmission(ctx context.Context) error {
	objs, err := manifests.DecodeFS(admission.Files, admission.Pattern)
	if err != nil {
		return err
	}
	c, err := cp.adminClient()
	if err != nil {
		return err
	}
	return manifests.Delete(ctx, c, objs)
}

// writeKubeconfig writes a kubeconfig for a plain-HTTP server without
// credentials: the proxy adds them.
func writeKubeconfig(path, server string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["chaos"] = &clientcmdapi.Cluster{Server: server}
	cfg.AuthInfos["chaos"] = &clientcmdapi.AuthInfo{}
	cfg.Contexts["chaos"] = &clientcmdapi.Context{Cluster: "chaos", AuthInfo: "chaos"}
	cfg.CurrentContext = "chaos"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("writing kubeconfig %s: %w", path, err)
	}
	return os.Chmod(path, 0o600)
}

// proxy forwards every request to the current API server with the current
// admin credentials, streaming responses (watches) as they come.
type proxy struct {
	addr string
	srv  *http.Server

	mu      sync.RWMutex
	handler http.Handler // nil while cut
	closeRT func()
	// upstream ends every forwarded request when the proxy is cut.
	upstream context.Context
	cancel   context.CancelFunc
}

func startProxy(cfg *rest.Config) (*proxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{addr: l.Addr().String()}
	if err := p.use(cfg); err != nil {
		_ = l.Close()
		return nil, err
	}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(l) }()
	return p, nil
}

// use sends later requests to the API server of cfg.
func (p *proxy) use(cfg *rest.Config) error {
	target, err := url.Parse(cfg.Host)
	if err != nil {
		return fmt.Errorf("parsing API server address: %w", err)
	}
	rt, err := rest.TransportFor(cfg)
	if err != nil {
		return fmt.Errorf("building API server transport: %w", err)
	}
	rp := &httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(target) },
		Transport:     rt,
		FlushInterval: -1,
		ErrorLog:      log.New(io.Discard, "", 0),
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, "chaos proxy: API server unavailable: "+err.Error(), http.StatusBadGateway)
		},
	}
	upstream, cancel := context.WithCancel(context.Background())
	p.mu.Lock()
	old := p.closeRT
	p.handler, p.upstream, p.cancel = rp, upstream, cancel
	p.closeRT = func() {
		if c, ok := rt.(interface{ CloseIdleConnections() }); ok {
			c.CloseIdleConnections()
		}
	}
	p.mu.Unlock()
	if old != nil {
		old()
	}
	return nil
}

// cut refuses new requests and ends the forwarded ones until the next use.
func (p *proxy) cut() {
	p.mu.Lock()
	closeRT, cancel := p.closeRT, p.cancel
	p.handler, p.closeRT, p.cancel = nil, nil, nil
	p.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	if closeRT != nil {
		closeRT()
	}
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.RLock()
	h, upstream := p.handler, p.upstream
	p.mu.RUnlock()
	if h == nil {
		http.Error(w, "chaos proxy: the API server is restarting", http.StatusBadGateway)
		return
	}
	ctx, cancel := context.WithCancel(upstream)
	defer cancel()
	stop := context.AfterFunc(r.Context(), cancel)
	defer stop()
	h.ServeHTTP(w, r.WithContext(ctx))
}

func (p *proxy) close() error {
	p.cut()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := p.srv.Shutdown(ctx)
	if err != nil {
		err = p.srv.Close()
	}
	return err
}
