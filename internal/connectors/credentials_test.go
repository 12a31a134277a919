package connectors_test

import (
	"slices"
	"testing"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/connectors"
	"github.com/portcullis-dev/portcullis/internal/connectors/kubernetes"
	"github.com/portcullis-dev/portcullis/internal/connectors/ldap"
	"github.com/portcullis-dev/portcullis/internal/connectors/postgres"
	"github.com/portcullis-dev/portcullis/internal/connectors/scim"
	"github.com/portcullis-dev/portcullis/internal/connectors/webhook"
)

// Each connector says which credential keys its systems need; a connector
// that needs none (kubernetes uses the manager's own identity) says nothing.
func TestMissingCredentials(t *testing.T) {
	system := &accessv1alpha1.ConnectedSystem{}
	tests := []struct {
		name string
		c    connectors.Connector
		data map[string][]byte
		want []string
	}{
		{"scim without a token", &scim.Connector{}, nil, []string{"token"}},
		{"scim", &scim.Connector{}, map[string][]byte{"token": []byte("t")}, nil},
		{"scim with an empty token", &scim.Connector{}, map[string][]byte{"token": {}}, []string{"token"}},
		{"ldap without a bind DN", &ldap.Connector{}, map[string][]byte{"password": []byte("p")}, []string{"bindDN"}},
		{"postgres with a DSN", &postgres.Connector{}, map[string][]byte{"dsn": []byte("postgres://")}, nil},
		{"postgres without a password", &postgres.Connector{}, map[string][]byte{"username": []byte("u")}, []string{"password"}},
		{"webhook without a key", &webhook.Connector{}, nil, []string{"hmacKey"}},
		{"kubernetes", &kubernetes.Connector{}, nil, nil},
	}
	for _, tt := range tests {
		if got := connectors.MissingCredentials(tt.c, system, tt.data); !slices.Equal(got, tt.want) {
			t.Errorf("%s: MissingCredentials = %v, want %v", tt.name, got, tt.want)
		}
	}
}
