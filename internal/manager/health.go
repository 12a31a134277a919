package manager

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
)

// apiServerCheckTimeout bounds one readiness check of the API server.
const apiServerCheckTimeout = 2 * time.Second

// cachesSynced is ready once the manager's informers have synced, so a
// rolling update waits until the new replica can see the cluster.
func cachesSynced(mgr ctrl.Manager) healthz.Checker {
	return func(req *http.Request) error {
		if !mgr.GetCache().WaitForCacheSync(req.Context()) {
			return errors.New("informer caches have not synced")
		}
		return nil
	}
}

// apiServerReachable is ready while the API server answers its own /readyz:
// a manager that cannot reach it can neither decide nor store sign-ins, so
// a Service stops sending it requests. Every authenticated identity may
// read /readyz (the system:public-info-viewer role).
func apiServerReachable(cfg *rest.Config) (healthz.Checker, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.Timeout = apiServerCheckTimeout
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating the API server readiness check: %w", err)
	}
	return func(req *http.Request) error {
		ctx, cancel := context.WithTimeout(req.Context(), apiServerCheckTimeout)
		defer cancel()
		if err := dc.RESTClient().Get().AbsPath("/readyz").Do(ctx).Error(); err != nil {
			return fmt.Errorf("the API server is not ready or not reachable: %w", err)
		}
		return nil
	}, nil
}

// addProbes adds liveness, and readiness once the caches synced and while
// the API server answers.
func addProbes(mgr ctrl.Manager, cfg *rest.Config) error {
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("adding liveness check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", cachesSynced(mgr)); err != nil {
		return fmt.Errorf("adding readiness check: %w", err)
	}
	reachable, err := apiServerReachable(cfg)
	if err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("apiserver", reachable); err != nil {
		return fmt.Errorf("adding readiness check: %w", err)
	}
	return nil
}
