package ssftx

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"
)

// errForbiddenAddress is wrapped when a push endpoint resolves to an
// address the transmitter will not connect to.
var errForbiddenAddress = errors.New("push endpoint address not allowed")

// checkAddress refuses link-local (cloud metadata), unspecified and
// multicast addresses always, and loopback and private ones unless
// allowPrivate.
func checkAddress(addr netip.Addr, allowPrivate bool) error {
	addr = addr.Unmap()
	switch {
	case !addr.IsValid():
		return fmt.Errorf("%w: not an IP address", errForbiddenAddress)
	case addr.IsLinkLocalUnicast(), addr.IsLinkLocalMulticast(), addr.IsUnspecified(),
		addr.IsMulticast(), addr.IsInterfaceLocalMulticast():
		return fmt.Errorf("%w: %s is link-local, unspecified or multicast", errForbiddenAddress, addr)
	case allowPrivate:
		return nil
	case addr.IsLoopback(), addr.IsPrivate(), sharedAddressSpace.Contains(addr):
		return fmt.Errorf("%w: %s is loopback or private", errForbiddenAddress, addr)
	}
	return nil
}

// sharedAddressSpace is RFC 6598 carrier-grade NAT space, private in effect.
var sharedAddressSpace = netip.MustParsePrefix("100.64.0.0/10")

// newPushClient returns the client that pushes SETs: it checks every
// address it dials after resolution (so a name that resolves, or later
// re-resolves, to a forbidden address is refused), uses no proxy, follows
// no redirect and bounds every phase.
func newPushClient(opts HTTPClientOptions, timeout time.Duration) *http.Client {
	dialer := &net.Dialer{
		Timeout: 5 * time.Second,
		Control: func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return fmt.Errorf("%w: %w", errForbiddenAddress, err)
			}
			addr, err := netip.ParseAddr(host)
			if err != nil {
				return fmt.Errorf("%w: %w", errForbiddenAddress, err)
			}
			return checkAddress(addr, opts.AllowPrivateEndpoints)
		},
	}
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       &tls.Config{RootCAs: opts.RootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: timeout,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{
		Transport:     transport,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// checkEndpointURL checks a receiver's push endpoint_url: https, a host, no
// user info or fragment, and not an IP literal that would be refused.
func checkEndpointURL(raw string, allowPrivate bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.Fragment != "" || len(raw) > 2048 {
		return errors.New("delivery.endpoint_url must be an https URL with a host, no user info or fragment, at most 2048 characters")
	}
	if addr, err := netip.ParseAddr(u.Hostname()); err == nil {
		if err := checkAddress(addr, allowPrivate); err != nil {
			return errors.New("delivery.endpoint_url: " + err.Error())
		}
	}
	return nil
}
