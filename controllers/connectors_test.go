package controllers_test

import (
	"context"

	"github.com/jackc/pgx/v5"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/test/ldapserver"
	"github.com/portcullis-dev/portcullis/test/pgserver"
	"github.com/portcullis-dev/portcullis/test/scimserver"
)

// system creates a ConnectedSystem of the spec's world with a credentials
// Secret, and waits until it is connected.
func (w world) connectedSystem(ctx SpecContext, name string, creds map[string][]byte, set func(*accessv1alpha1.ConnectedSystem)) *accessv1alpha1.ConnectedSystem {
	for _, key := range []string{"password", "token", "hmacKey", "dsn"} {
		if v, ok := creds[key]; ok {
			secretUsed(string(v))
		}
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: credentialsNS, Name: uniqueName(name)}, Data: creds}
	create(ctx, secret)
	s := newSystem(uniqueName(name), func(s *accessv1alpha1.ConnectedSystem) {
		s.Spec.Kubernetes = nil
		s.Spec.CredentialsSecretRef = &accessv1alpha1.SecretReference{Namespace: credentialsNS, Name: secret.Name}
		s.Spec.AllowedEntitlements = []string{"*"}
		// The test servers listen on loopback without TLS.
		s.Spec.Insecure = true
		set(s)
	})
	create(ctx, s)
	expectReady(ctx, s, metav1.ConditionTrue, accessv1alpha1.ReasonConnected)
	return s
}

// startPostgres starts a server with the contractor's login role "sam"
// (password sam-pw) and the entitlement role payments_rw, and returns it
// with an administrator's connection.
func startPostgres(ctx SpecContext) (*pgserver.Server, *pgx.Conn) {
	srv := pgserver.Start(GinkgoTB())
	admin, err := pgx.Connect(ctx, srv.DSN(pgserver.Superuser, pgserver.Password))
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { _ = admin.Close(context.Background()) })
	for _, sql := range []string{`CREATE ROLE sam LOGIN PASSWORD 'sam-pw'`, `CREATE ROLE payments_rw NOLOGIN`} {
		_, err := admin.Exec(ctx, sql)
		Expect(err).NotTo(HaveOccurred())
	}
	return srv, admin
}

// postgresSystem connects the world to a PostgreSQL server.
func (w world) postgresSystem(ctx SpecContext, srv *pgserver.Server) *accessv1alpha1.ConnectedSystem {
	return w.connectedSystem(ctx, "db", map[string][]byte{"username": []byte(pgserver.Superuser), "password": []byte(pgserver.Password)},
		func(s *accessv1alpha1.ConnectedSystem) {
			s.Spec.Type = accessv1alpha1.SystemTypePostgres
			s.Spec.Postgres = &accessv1alpha1.PostgresSettings{Host: srv.Host, Port: int32(srv.Port), Database: "postgres", SSLMode: "disable"}
		})
}

// scimSystem connects the world to a SCIM service provider.
func (w world) scimSystem(ctx SpecContext, srv *scimserver.Server) *accessv1alpha1.ConnectedSystem {
	return w.connectedSystem(ctx, "idp", map[string][]byte{"token": []byte(scimserver.Token)}, func(s *accessv1alpha1.ConnectedSystem) {
		s.Spec.Type = accessv1alpha1.SystemTypeSCIM
		s.Spec.SCIM = &accessv1alpha1.SCIMSettings{URL: srv.URL}
	})
}

var _ = Describe("A Tor finding", func() {
	It("quarantines the contractor's grants in PostgreSQL, SCIM and LDAP at once", func(ctx SpecContext) {
		pg, _ := startPostgres(ctx)
		idp := scimserver.Start(GinkgoTB())
		scimUser, scimGroup := idp.AddUser("sam@contractors.example.com"), idp.AddGroup("payments-engineers")
		dir := ldapserver.Start(GinkgoTB())
		ldapUser, err := dir.AddUser("sam", "sam-ldap-pw")
		Expect(err).NotTo(HaveOccurred())
		ldapGroup, err := dir.AddGroup("payments")
		Expect(err).NotTo(HaveOccurred())
		ldapQuarantine, err := dir.AddGroup("quarantine")
		Expect(err).NotTo(HaveOccurred())

		w := newWorld(ctx)
		db := w.postgresSystem(ctx, pg)
		scim := w.scimSystem(ctx, idp)
		ldap := w.connectedSystem(ctx, "dir", map[string][]byte{"bindDN": []byte(ldapserver.AdminDN), "password": []byte(ldapserver.AdminPW)},
			func(s *accessv1alpha1.ConnectedSystem) {
				s.Spec.Type = accessv1alpha1.SystemTypeLDAP
				s.Spec.LDAP = &accessv1alpha1.LDAPSettings{URL: dir.URL, QuarantineGroupDN: ldapQuarantine}
				// A pattern's star never crosses a comma: DNs are listed whole.
				s.Spec.AllowedEntitlements = []string{ldapGroup}
			})
		w.addAccount(ctx, db.Name, "sam")
		w.addAccount(ctx, scim.Name, "sam@contractors.example.com")
		w.addAccount(ctx, ldap.Name, ldapUser)

		grants := map[string]*accessv1alpha1.AccessGrant{}
		for name, g := range map[string]struct{ system, entitlement string }{
			"db": {db.Name, "payments_rw"}, "idp": {scim.Name, "payments-engineers"}, "dir": {ldap.Name, ldapGroup},
		} {
			grants[name] = newGrant(w.ns, name, w.contractor, g.system, func(grant *accessv1alpha1.AccessGrant) {
				grant.Spec.Entitlement = accessv1alpha1.Entitlement{Name: g.entitlement}
			})
			create(ctx, grants[name])
		}
		for _, g := range grants {
			expectState(ctx, g, accessv1alpha1.GrantActive)
		}
		Expect(dir.CanBind(ldapUser, "sam-ldap-pw")).To(BeTrue())
		Expect(idp.Member(scimGroup, scimUser)).To(BeTrue())

		tor := newFinding(w.ns, "tor", w.contractor, func(f *accessv1alpha1.Finding) {
			f.Spec.Type, f.Spec.AnonymizerKind, f.Spec.Severity = accessv1alpha1.FindingAnonymizer, accessv1alpha1.AnonymizerTor, "High"
			f.Spec.Evidence = accessv1alpha1.Evidence{IP: "185.220.101.4"}
		})
		create(ctx, tor)
		for _, g := range grants {
			expectState(ctx, g, accessv1alpha1.GrantQuarantined)
		}
		_, err = pgx.Connect(ctx, pg.DSN("sam", "sam-pw"))
		Expect(err).To(MatchError(ContainSubstring("not permitted to log in")))
		Expect(idp.Active(scimUser)).To(BeFalse())
		Expect(dir.CanBind(ldapUser, "sam-ldap-pw")).To(BeFalse(), "the LDAP account is not locked")
		values, err := dir.Values(ldapQuarantine, "member")
		Expect(err).NotTo(HaveOccurred())
		Expect(values).To(ContainElement(ldapUser))
	})
})
