package manager

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"k8s.io/client-go/rest"
)

func TestAPIServerReachable(t *testing.T) {
	var ready atomic.Bool
	ready.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		if !ready.Load() {
			http.Error(w, "[-]etcd failed", http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	check, err := apiServerReachable(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	probe := httptest.NewRequest(http.MethodGet, "/readyz", nil)
	if err := check(probe); err != nil {
		t.Errorf("a ready API server: %v", err)
	}
	ready.Store(false)
	if err := check(probe); err == nil {
		t.Error("an API server that is not ready passed")
	}
	srv.Close()
	if err := check(probe); err == nil {
		t.Error("an unreachable API server passed")
	}
}
