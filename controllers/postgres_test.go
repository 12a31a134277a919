package controllers_test

import (
	"context"
	"strconv"

	"github.com/jackc/pgx/v5"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/test/pgserver"
)

var _ = Describe("AccessGrant enforcement in PostgreSQL", func() {
	It("grants the role, ends the open session on quarantine, refuses login until restored", func(ctx SpecContext) {
		srv, admin := startPostgres(ctx)
		member := func() bool {
			var ok bool
			Expect(admin.QueryRow(ctx, `SELECT pg_has_role('sam', 'payments_rw', 'MEMBER')`).Scan(&ok)).To(Succeed())
			return ok
		}

		w := newWorld(ctx)
		system := w.postgresSystem(ctx, srv)
		w.addAccount(ctx, system.Name, "sam")

		grant := newGrant(w.ns, "db", w.contractor, system.Name, func(g *accessv1alpha1.AccessGrant) {
			g.Spec.Entitlement = accessv1alpha1.Entitlement{Name: "payments_rw"}
		})
		create(ctx, grant)
		expectState(ctx, grant, accessv1alpha1.GrantActive)
		Expect(member()).To(BeTrue())

		session, err := pgx.Connect(ctx, srv.DSN("sam", "sam-pw"))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { _ = session.Close(context.Background()) })

		finding := w.finding(ctx, "abroad", accessv1alpha1.FindingGeolocation, "RU")
		expectState(ctx, grant, accessv1alpha1.GrantQuarantined)
		Expect(session.Ping(ctx)).NotTo(Succeed(), "the open session survived the quarantine")
		_, err = pgx.Connect(ctx, srv.DSN("sam", "sam-pw"))
		Expect(err).To(MatchError(ContainSubstring("not permitted to log in")))

		Expect(k8sClient.Delete(ctx, finding)).To(Succeed())
		expectState(ctx, grant, accessv1alpha1.GrantActive)
		again, err := pgx.Connect(ctx, srv.DSN("sam", "sam-pw"))
		Expect(err).NotTo(HaveOccurred())
		_ = again.Close(ctx)

		By("keeping a failed enforcement pending while the server is down, then applying it")
		Expect(srv.Stop()).To(Succeed())
		srv.WaitGone()
		w.finding(ctx, "kp", accessv1alpha1.FindingSanctionedCountry, "KP")
		cond := expectReady(ctx, grant, metav1.ConditionFalse, accessv1alpha1.ReasonEnforcementFailed)
		Expect(cond.Message).To(ContainSubstring("cannot be reached"))
		Expect(cond.Message).NotTo(ContainSubstring(pgserver.Password))
		Expect(grant.Status.Enforcement.State).To(Equal(accessv1alpha1.GrantActive))
		Expect(grant.Status.Enforcement.Attempts).To(BeNumerically(">=", 1))
		// The failure re-checks the system now, not at its periodic check
		// ten minutes away.
		expectReady(ctx, system, metav1.ConditionFalse, accessv1alpha1.ReasonUnreachable)
		Expect(srv.Start()).To(Succeed())
		expectReady(ctx, system, metav1.ConditionTrue, accessv1alpha1.ReasonConnected)
		admin, err = pgx.Connect(ctx, srv.DSN(pgserver.Superuser, pgserver.Password))
		Expect(err).NotTo(HaveOccurred())
		expectState(ctx, grant, accessv1alpha1.GrantRevoked)
		Expect(member()).To(BeFalse(), "revoked on port "+strconv.Itoa(srv.Port))
	})
})
