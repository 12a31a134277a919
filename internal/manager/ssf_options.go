package manager

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/types"

	"github.com/portcullis-dev/portcullis/internal/signals"
)

// SSFOptions configure the Shared Signals endpoint: the push receiver of
// SignalStreams and, when Issuer is set, Portcullis's own transmitter.
type SSFOptions struct {
	// Addr is the HTTPS endpoint's listen address; "0" or "" turns it off.
	Addr string
	// TLSCertFile and TLSKeyFile are the endpoint's certificate and key,
	// re-read when they change. Required: SSF is served over TLS only.
	TLSCertFile, TLSKeyFile string
	// ReceiverURL is the endpoint's external https URL, from which push
	// SignalStreams give transmitters <ReceiverURL>/ssf/receive/<name>.
	ReceiverURL string
	// Issuer, when set, turns the transmitter on: the https URL receivers
	// know this manager by (the iss of its SETs; its metadata is at
	// <Issuer>/.well-known/ssf-configuration).
	Issuer string
	// SigningKeySecret is "namespace/name" of the Secret of signing keys.
	SigningKeySecret string
	// ReceiverTokenSecret is "namespace/name" of the Secret whose keys are
	// the receivers' names and whose values are their bearer tokens.
	ReceiverTokenSecret string
	// ReceiverCAFile is a PEM bundle trusted, besides the system's roots,
	// for the receivers' push endpoints.
	ReceiverCAFile string
	// AllowPrivateReceivers lets receivers' push endpoints resolve to
	// loopback and private addresses (link-local never).
	AllowPrivateReceivers bool
}

// DefaultSSFOptions returns the endpoint turned off.
func DefaultSSFOptions() SSFOptions { return SSFOptions{Addr: "0"} }

// BindFlags registers the options as flags on fs.
func (o *SSFOptions) BindFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Addr, "ssf-bind-address", o.Addr,
		"Address of the Shared Signals HTTPS endpoint: SignalStreams' push receiver (/ssf/receive/<name>) and, with --ssf-issuer, the transmitter's metadata, keys, stream management and poll endpoints. Every replica listens; the leader receives pushes, the others answer 503 to retry. \"0\" turns it off. Needs --ssf-tls-cert-file and --ssf-tls-key-file.")
	fs.StringVar(&o.TLSCertFile, "ssf-tls-cert-file", o.TLSCertFile,
		"PEM certificate of the Shared Signals endpoint (re-read when it changes).")
	fs.StringVar(&o.TLSKeyFile, "ssf-tls-key-file", o.TLSKeyFile,
		"PEM private key of the Shared Signals endpoint's certificate.")
	fs.StringVar(&o.ReceiverURL, "ssf-receiver-url", o.ReceiverURL,
		"External https URL of the Shared Signals endpoint, as transmitters reach it; push SignalStreams ask to be sent SETs at <url>/ssf/receive/<name>.")
	fs.StringVar(&o.Issuer, "ssf-issuer", o.Issuer,
		"Turns the Shared Signals transmitter on: the https URL receivers know this manager by, the iss of its SETs (its metadata is served at <issuer>/.well-known/ssf-configuration, so the URL must reach the Shared Signals endpoint). Needs --ssf-signing-key-secret and --ssf-receiver-token-secret.")
	fs.StringVar(&o.SigningKeySecret, "ssf-signing-key-secret", o.SigningKeySecret,
		"namespace/name of the Secret of the transmitter's signing keys: <kid>.pem entries (PEM private keys: RSA 2048 bits or more, EC P-256 or P-384, Ed25519) and an \"active\" entry naming the kid that signs. Every key is published; rotate by adding a key, switching \"active\", then removing the old key.")
	fs.StringVar(&o.ReceiverTokenSecret, "ssf-receiver-token-secret", o.ReceiverTokenSecret,
		"namespace/name of the Secret whose entries are the receivers allowed to manage streams: the key is the receiver's name (its SETs' aud), the value its bearer token (re-read every 10 s).")
	fs.StringVar(&o.ReceiverCAFile, "ssf-receiver-ca-file", o.ReceiverCAFile,
		"PEM bundle of certificate authorities trusted, besides the system's, for receivers' push endpoints.")
	fs.BoolVar(&o.AllowPrivateReceivers, "ssf-allow-private-receivers", o.AllowPrivateReceivers,
		"Let receivers' push endpoints resolve to loopback and private addresses (receivers inside the cluster or the network). Link-local addresses, such as cloud metadata services, are refused whatever this says.")
}

func (o SSFOptions) enabled() bool { return o.Addr != "" && o.Addr != "0" }

func (o SSFOptions) transmitting() bool { return o.Issuer != "" }

// check validates the options against each other.
func (o SSFOptions) check(credentialsNamespace string) error {
	if !o.enabled() {
		if o.transmitting() {
			return errors.New("--ssf-issuer needs --ssf-bind-address: the transmitter is served on the Shared Signals endpoint")
		}
		return nil
	}
	if o.TLSCertFile == "" || o.TLSKeyFile == "" {
		return errors.New("--ssf-bind-address needs --ssf-tls-cert-file and --ssf-tls-key-file: Shared Signals are served over TLS only")
	}
	if o.ReceiverURL != "" {
		if err := checkHTTPSURL("--ssf-receiver-url", o.ReceiverURL); err != nil {
			return err
		}
	}
	if !o.transmitting() {
		return nil
	}
	if err := checkHTTPSURL("--ssf-issuer", o.Issuer); err != nil {
		return err
	}
	for _, s := range []struct{ flag, value string }{
		{"--ssf-signing-key-secret", o.SigningKeySecret}, {"--ssf-receiver-token-secret", o.ReceiverTokenSecret},
	} {
		key, err := secretFlag(s.flag, s.value)
		if err != nil {
			return err
		}
		if key.Namespace != credentialsNamespace {
			return fmt.Errorf("%s %s is outside the credentials namespace %s, the only one whose Secrets the manager reads: move the Secret there",
				s.flag, s.value, credentialsNamespace)
		}
	}
	return nil
}

// secretFlag parses a "namespace/name" flag.
func secretFlag(flag, value string) (types.NamespacedName, error) {
	key, ok := signals.ParseKey(value)
	if !ok {
		return key, fmt.Errorf("%s %q must be namespace/name", flag, value)
	}
	return key, nil
}

// checkHTTPSURL refuses anything but an absolute https URL without query,
// fragment or user information.
func checkHTTPSURL(flag, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" ||
		strings.HasSuffix(u.Path, "/") {
		return fmt.Errorf("%s %q must be an absolute https URL with no query, fragment, user or trailing slash, e.g. https://portcullis.example.com", flag, raw)
	}
	return nil
}
