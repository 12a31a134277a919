package manager

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/portcullis-dev/portcullis/internal/admission"
)

// The webhook certificate is kept in one Secret and its CA in one webhook
// configuration: get and update on those two, by name, and nothing more.
// +kubebuilder:rbac:groups="",namespace=system,resources=secrets,verbs=update,resourceNames=portcullis-webhook-server-cert
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=validatingwebhookconfigurations,verbs=get;update,resourceNames=portcullis-validating-webhook-configuration

// WebhookOptions configure the validating webhook.
type WebhookOptions struct {
	// Addr is where the webhook listens; "" or "0" turns it off.
	Addr string
	// CertDir holds tls.crt and tls.key when ManageCerts is off: a Secret
	// cert-manager fills, mounted.
	CertDir string
	// ManageCerts makes the manager create and rotate its own CA and
	// serving certificate in Secret, serve it from memory, and inject the
	// CA into Configuration.
	ManageCerts bool
	// Secret is the Secret, in the manager's namespace, holding them.
	Secret string
	// Service is the Service the API server calls the webhook through; the
	// certificate is for <Service>.<namespace>.svc.
	Service string
	// DNSNames are more names the certificate is valid for.
	DNSNames []string
	// Configuration is the ValidatingWebhookConfiguration whose caBundle
	// ManageCerts keeps current.
	Configuration string
}

// DefaultWebhookOptions are the webhook's settings when no flag is given:
// off (config/default turns it on), and the names of config/default.
func DefaultWebhookOptions() WebhookOptions {
	return WebhookOptions{
		Addr:          "0",
		CertDir:       "/tmp/k8s-webhook-server/serving-certs",
		ManageCerts:   true,
		Secret:        "portcullis-webhook-server-cert",
		Service:       "portcullis-webhook-service",
		Configuration: "portcullis-validating-webhook-configuration",
	}
}

// BindFlags registers the webhook's flags on fs.
func (o *WebhookOptions) BindFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Addr, "webhook-bind-address", o.Addr,
		"Address of the validating webhook that compiles AccessPolicies and checks PolicyExceptions on apply (HTTPS); \"0\" turns it off.")
	fs.StringVar(&o.CertDir, "webhook-cert-dir", o.CertDir,
		"Directory holding the webhook's tls.crt and tls.key, read when --webhook-manage-certs is false (a cert-manager Secret mounted there).")
	fs.BoolVar(&o.ManageCerts, "webhook-manage-certs", o.ManageCerts,
		"Create and rotate the webhook's CA and certificate in --webhook-secret and inject the CA into --webhook-configuration; false when cert-manager provides them.")
	fs.StringVar(&o.Secret, "webhook-secret", o.Secret,
		"Secret, in the manager's own namespace, where the manager keeps the webhook's CA and certificate; it must exist, empty at first.")
	fs.StringVar(&o.Service, "webhook-service", o.Service,
		"Service the API server reaches the webhook through: the managed certificate is for <service>.<namespace>.svc.")
	fs.StringSliceVar(&o.DNSNames, "webhook-dns-names", o.DNSNames,
		"More DNS names the managed certificate is valid for (comma-separated).")
	fs.StringVar(&o.Configuration, "webhook-configuration", o.Configuration,
		"ValidatingWebhookConfiguration whose caBundle the manager keeps current with --webhook-manage-certs.")
}

// enabled reports whether the webhook is served.
func (o WebhookOptions) enabled() bool { return o.Addr != "" && o.Addr != "0" }

// server returns the webhook server of these options.
func (o WebhookOptions) server() (webhook.Server, error) {
	if !o.enabled() {
		return webhook.NewServer(webhook.Options{}), nil
	}
	host, port, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return nil, fmt.Errorf("--webhook-bind-address %q: %w", o.Addr, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p <= 0 || p > 65535 {
		return nil, fmt.Errorf("--webhook-bind-address %q: the port must be a number from 1 to 65535", o.Addr)
	}
	return webhook.NewServer(webhook.Options{Host: host, Port: p, CertDir: o.CertDir}), nil
}

// setupWebhook registers the validators. With ManageCerts, the server
// takes its certificate from memory, kept current by admission.Certs, and
// is ready once the CA is injected; otherwise it reads CertDir, which
// cert-manager fills. Every replica serves the webhook, leader or not.
func setupWebhook(ctx context.Context, mgr ctrl.Manager, o WebhookOptions, namespace string, checker admission.Checker) error {
	if !o.enabled() {
		return nil
	}
	var certsReady <-chan struct{}
	if o.ManageCerts {
		if o.Secret == "" || o.Service == "" || o.Configuration == "" {
			return errors.New("--webhook-manage-certs needs --webhook-secret, --webhook-service and --webhook-configuration")
		}
		names := append([]string{fmt.Sprintf("%s.%s.svc", o.Service, namespace)}, o.DNSNames...)
		certs := admission.NewCerts(mgr.GetAPIReader(), mgr.GetClient(),
			types.NamespacedName{Namespace: namespace, Name: o.Secret}, o.Configuration, names)
		// Load the certificate now if the API server lets us, so that the
		// server never answers a handshake without one; Start keeps trying.
		if err := certs.Refresh(ctx); err != nil {
			ctrl.LoggerFrom(ctx).Info("The webhook certificate is not ready yet; trying again", "error", err.Error())
		}
		if err := mgr.Add(certs); err != nil {
			return fmt.Errorf("adding the webhook certificate: %w", err)
		}
		server, ok := mgr.GetWebhookServer().(*webhook.DefaultServer)
		if !ok {
			return fmt.Errorf("the webhook server is a %T, which cannot take a certificate from memory", mgr.GetWebhookServer())
		}
		server.Options.TLSOpts = append(server.Options.TLSOpts, func(c *tls.Config) { c.GetCertificate = certs.GetCertificate })
		certsReady = certs.Ready()
	}
	if err := mgr.AddReadyzCheck("webhook", webhookReady(mgr, certsReady)); err != nil {
		return fmt.Errorf("adding readiness check: %w", err)
	}
	return admission.Setup(mgr, checker)
}

// webhookReady fails until the certificate is served with its CA injected
// and the server is listening.
func webhookReady(mgr ctrl.Manager, certsReady <-chan struct{}) healthz.Checker {
	return func(req *http.Request) error {
		if certsReady != nil {
			select {
			case <-certsReady:
			default:
				return errors.New("the webhook certificate is not ready yet")
			}
		}
		return mgr.GetWebhookServer().StartedChecker()(req)
	}
}
