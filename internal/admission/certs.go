package admission

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The keys of the certificate Secret, those cert-manager and
// cert-controller use.
const (
	keyCACert = "ca.crt"
	keyCAKey  = "ca.key"
	keyCert   = corev1.TLSCertKey
	keyKey    = corev1.TLSPrivateKeyKey
)

// Validity of the CA and of the serving certificate, and how long before
// the end either is replaced.
const (
	caValidity   = 10 * 365 * 24 * time.Hour
	certValidity = 365 * 24 * time.Hour
	lookahead    = 90 * 24 * time.Hour
)

// DefaultCertCheckInterval is how often every replica reads the Secret
// again: a certificate another replica rotated is served within it.
const DefaultCertCheckInterval = time.Minute

// Certs keeps the webhook's CA and serving certificate in one Secret and
// the CA in one ValidatingWebhookConfiguration, and serves the certificate
// from memory: no volume, no wait for the kubelet to project the Secret.
// It needs get and update on those two objects and nothing else; the
// certificates themselves are made by cert-controller's generator.
type Certs struct {
	// Reader reads the two objects live; Writer updates them.
	Reader client.Reader
	Writer client.Writer
	// Secret holds ca.crt, ca.key, tls.crt and tls.key. It must exist (an
	// empty Secret will do): the manager never creates Secrets.
	Secret types.NamespacedName
	// Configuration is the ValidatingWebhookConfiguration whose webhooks
	// get the CA as caBundle.
	Configuration string
	// DNSNames are the names the certificate is for; the first is its
	// common name.
	DNSNames []string
	// Interval is how often the Secret is read again.
	Interval time.Duration
	// Now is the clock certificates are made and checked by.
	Now func() time.Time

	current atomic.Pointer[tls.Certificate]
	ready   chan struct{}
	once    sync.Once
}

// NewCerts returns a Certs that is not ready until it has served a
// certificate whose CA is injected.
func NewCerts(reader client.Reader, writer client.Writer, secret types.NamespacedName, configuration string, dnsNames []string) *Certs {
	return &Certs{Reader: reader, Writer: writer, Secret: secret, Configuration: configuration, DNSNames: dnsNames,
		Interval: DefaultCertCheckInterval, Now: time.Now, ready: make(chan struct{})}
}

// Ready is closed once a certificate is served and its CA injected.
func (c *Certs) Ready() <-chan struct{} { return c.ready }

// GetCertificate serves the current certificate, for tls.Config.
func (c *Certs) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if cert := c.current.Load(); cert != nil {
		return cert, nil
	}
	return nil, errors.New("the webhook certificate is not loaded yet")
}

// NeedLeaderElection is false: every replica serves the webhook.
func (c *Certs) NeedLeaderElection() bool { return false }

// Start refreshes the certificate every Interval until ctx ends, at once
// unless a Refresh before it (the manager's setup) already succeeded. A
// failure is logged and tried again sooner (5 s, doubling up to the
// interval); the last good certificate stays in use.
func (c *Certs) Start(ctx context.Context) error {
	log := ctrl.LoggerFrom(ctx).WithName("webhook-certs")
	wait, retry := time.Duration(0), time.Duration(0)
	select {
	case <-c.ready:
		wait = c.Interval
	default:
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		if err := c.Refresh(ctx); err != nil {
			// Sooner after a failure, backing off to the interval.
			retry = min(c.Interval, max(5*time.Second, 2*retry))
			wait = retry
			log.Error(err, "Refreshing the webhook certificate", "retryIn", wait.String())
			continue
		}
		wait, retry = c.Interval, 0
	}
}

// Refresh makes the Secret hold a CA and a certificate valid for at least
// the lookahead, loads the certificate and injects the CA.
func (c *Certs) Refresh(ctx context.Context) error {
	var data map[string][]byte
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		secret := &corev1.Secret{}
		if err := c.Reader.Get(ctx, c.Secret, secret); err != nil {
			if apierrors.IsNotFound(err) {
				return fmt.Errorf("the Secret %s of the webhook certificate does not exist: create it empty (config/webhook ships it)", c.Secret)
			}
			return fmt.Errorf("reading the Secret %s: %w", c.Secret, err)
		}
		changed, err := c.renew(secret, c.Now())
		if err != nil || !changed {
			data = secret.Data
			return err
		}
		if err := c.Writer.Update(ctx, secret); err != nil {
			return err
		}
		data = secret.Data
		return nil
	})
	if err != nil {
		return err
	}
	cert, err := tls.X509KeyPair(data[keyCert], data[keyKey])
	if err != nil {
		return fmt.Errorf("loading the webhook certificate of %s: %w", c.Secret, err)
	}
	c.current.Store(&cert)
	if err := c.inject(ctx, data[keyCACert]); err != nil {
		return err
	}
	c.once.Do(func() { close(c.ready) })
	return nil
}

// renew replaces what is missing, invalid or ending within the lookahead:
// the CA and the certificate, or the certificate only.
func (c *Certs) renew(secret *corev1.Secret, now time.Time) (bool, error) {
	gen := &rotator.CertRotator{CAName: "portcullis-webhook-ca", CAOrganization: "portcullis",
		DNSName: c.DNSNames[0], ExtraDNSNames: c.DNSNames[1:], ExtKeyUsages: &[]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	d := secret.Data
	at := now.Add(lookahead)
	var ca *rotator.KeyPairArtifacts
	if ok, _ := rotator.ValidCert(d[keyCACert], d[keyCACert], d[keyCAKey], gen.CAName, nil, at); ok {
		if c.validFor(d, at, gen.ExtKeyUsages) {
			return false, nil
		}
		var err error
		if ca, err = parseCA(d[keyCACert], d[keyCAKey]); err != nil {
			return false, err
		}
	} else {
		var err error
		if ca, err = gen.CreateCACert(now.Add(-time.Hour), now.Add(caValidity)); err != nil {
			return false, fmt.Errorf("creating the webhook CA: %w", err)
		}
		// The bundle keeps the CA it replaces while that is valid: replicas
		// still serving a certificate of it stay trusted until they read
		// the Secret again.
		ca.CertPEM = append(ca.CertPEM, validCAs(d[keyCACert], now)...)
	}
	cert, key, err := gen.CreateCertPEM(ca, now.Add(-time.Hour), now.Add(certValidity))
	if err != nil {
		return false, fmt.Errorf("creating the webhook certificate: %w", err)
	}
	secret.Data = map[string][]byte{keyCACert: ca.CertPEM, keyCAKey: ca.KeyPEM, keyCert: cert, keyKey: key}
	return true, nil
}

// validFor reports whether the certificate in d is valid for every name.
func (c *Certs) validFor(d map[string][]byte, at time.Time, usages *[]x509.ExtKeyUsage) bool {
	for _, name := range c.DNSNames {
		if ok, _ := rotator.ValidCert(d[keyCACert], d[keyCert], d[keyKey], name, usages, at); !ok {
			return false
		}
	}
	return true
}

// parseCA reads back a CA that ValidCert accepted.
func parseCA(certPEM, keyPEM []byte) (*rotator.KeyPairArtifacts, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("loading the webhook CA: %w", err)
	}
	key, ok := pair.PrivateKey.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("the webhook CA's key is not an RSA key")
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("parsing the webhook CA: %w", err)
	}
	return &rotator.KeyPairArtifacts{Cert: cert, Key: key, CertPEM: certPEM, KeyPEM: keyPEM}, nil
}

// validCAs returns the PEM certificates of bundle that are still valid at now.
func validCAs(bundle []byte, now time.Time) []byte {
	var out []byte
	for rest := bundle; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			return out
		}
		if cert, err := x509.ParseCertificate(block.Bytes); err == nil && cert.IsCA && now.Before(cert.NotAfter) {
			out = append(out, pem.EncodeToMemory(block)...)
		}
	}
}

// leadCA parses the first certificate of a PEM bundle, or returns nil.
func leadCA(bundle []byte) *x509.Certificate {
	block, _ := pem.Decode(bundle)
	if block == nil {
		return nil
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil
	}
	return cert
}

// newer reports whether the bundle injected leads with a CA made after the
// one ours leads with: ours was read before another replica replaced it.
func newer(injected, ours []byte) bool {
	a, b := leadCA(injected), leadCA(ours)
	return a != nil && b != nil && a.NotBefore.After(b.NotBefore)
}

// inject sets caBundle on every webhook of the configuration. A bundle led
// by a CA made after the one this replica read is left alone: the replica's
// read is older than the CA, and its next refresh catches up.
func (c *Certs) inject(ctx context.Context, ca []byte) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{}
		err := c.Reader.Get(ctx, types.NamespacedName{Name: c.Configuration}, cfg)
		if apierrors.IsNotFound(err) {
			// Removed on purpose (say, to change policies while no replica
			// served): nothing calls the webhook, so nothing waits for its
			// CA. It is injected within an interval of the configuration
			// coming back.
			ctrl.LoggerFrom(ctx).Info("The webhook configuration does not exist: the API server calls no webhook", "configuration", c.Configuration)
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading ValidatingWebhookConfiguration %s: %w", c.Configuration, err)
		}
		changed := false
		for i := range cfg.Webhooks {
			current := cfg.Webhooks[i].ClientConfig.CABundle
			if bytes.Equal(current, ca) {
				continue
			}
			if newer(current, ca) {
				continue
			}
			cfg.Webhooks[i].ClientConfig.CABundle, changed = ca, true
		}
		if !changed {
			return nil
		}
		return c.Writer.Update(ctx, cfg)
	})
}
