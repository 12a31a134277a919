package ingest

import (
	"context"
	"errors"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
)

// TestTokensReadTheSecretAtMostOncePerRefresh: a flood of requests, with
// the Secret readable or not, costs one read of it per refresh.
func TestTokensReadTheSecretAtMostOncePerRefresh(t *testing.T) {
	for _, tc := range []struct {
		name  string
		err   error
		valid bool
	}{
		{"a readable Secret", nil, true},
		{"a missing Secret", errors.New("not found"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			clk := clocktesting.NewFakePassiveClock(now)
			secret := &secretReader{err: tc.err}
			secret.set("token-a")
			tokens := &Tokens{Reader: secret, Secret: types.NamespacedName{Namespace: "ns", Name: "tokens"}, Refresh: 10 * time.Second, Clock: clk}
			for range 100 {
				ok, err := tokens.Valid(ctx, "token-a")
				if ok != tc.valid || (err != nil) != (tc.err != nil) {
					t.Fatalf("valid %v, %v", ok, err)
				}
			}
			clk.SetTime(now.Add(10 * time.Second))
			_, _ = tokens.Valid(ctx, "token-a")
			if secret.gets != 2 {
				t.Errorf("%d reads of the Secret over two refresh periods, want 2", secret.gets)
			}
		})
	}
}
