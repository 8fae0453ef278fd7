package trigger

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"

	"github.com/tailor-dev/tailor/audience"
)

// Internal address ranges a webhook may not reach unless
// DeliveryOptions.AllowPrivate is set, besides those netip classifies:
// loopback, private (RFC 1918, fc00::/7), link-local (169.254.0.0/16, where
// cloud metadata services answer, and fe80::/10), unspecified and multicast.
var internalPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),          // "this network": Linux connects 0.x to the host itself
	netip.MustParsePrefix("100.64.0.0/10"),      // carrier-grade NAT (RFC 6598)
	netip.MustParsePrefix("255.255.255.255/32"), // limited broadcast
}

// nat64 is the well-known NAT64 prefix (RFC 6052): its addresses reach the
// IPv4 address in their last four bytes.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// internal reports whether ip is an address a webhook may not reach, and
// what kind it is.
func internal(ip netip.Addr) (string, bool) {
	ip = ip.Unmap().WithZone("")
	if nat64.Contains(ip) {
		b := ip.As16()
		ip = netip.AddrFrom4([4]byte(b[12:]))
	}
	switch {
	case ip.IsLoopback():
		return "loopback", true
	case ip.IsPrivate():
		return "private", true
	case ip.IsLinkLocalUnicast():
		return "link-local", true
	case ip.IsUnspecified():
		return "unspecified", true
	case ip.IsMulticast():
		return "multicast", true
	}
	for _, p := range internalPrefixes {
		if p.Contains(ip) {
			return "reserved", true
		}
	}
	return "", false
}

// CheckWebhookURL checks a webhook URL before it is stored: an http or https
// URL with a host and no user information. Unless allowPrivate is set, its
// host may not be an internal IP address (loopback, private, link-local,
// unspecified, multicast, carrier-grade NAT 100.64.0.0/10) nor "localhost"
// or a name under it. The error is an *audience.FieldError naming
// "trigger.webhook".
//
// A host name is not resolved here: one that resolves to an internal address
// is refused when the POST connects (see DeliveryOptions.AllowPrivate).
func CheckWebhookURL(raw string, allowPrivate bool) error {
	bad := func(msg string) error { return &audience.FieldError{Field: "trigger.webhook", Message: msg} }
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return bad("must be an http or https URL with a host")
	}
	if u.User != nil {
		return bad("must not hold a user name or password")
	}
	host := strings.ToLower(u.Hostname())
	ip, err := netip.ParseAddr(host)
	if err != nil && numericHost(host) {
		// 127.1, 2130706433 or 0x7f.0.0.1: some resolvers read them as IPv4
		// addresses.
		return bad("must name its host or give an IP address in standard form")
	}
	if allowPrivate {
		return nil
	}
	if err == nil {
		if kind, ok := internal(ip); ok {
			return bad(fmt.Sprintf("must not be an internal address (%s is %s)", ip, kind))
		}
		return nil
	}
	if h := strings.TrimSuffix(host, "."); h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return bad("must not be an internal address (" + host + ")")
	}
	return nil
}

// numericHost reports whether the last label of host is a number (decimal,
// or hexadecimal after 0x), which makes it an IPv4 address to URL parsers
// and resolvers that accept the old forms, never a DNS name.
func numericHost(host string) bool {
	host = strings.TrimSuffix(host, ".")
	label := host[strings.LastIndexByte(host, '.')+1:]
	if label == "" {
		return false
	}
	digits := label
	if strings.HasPrefix(label, "0x") {
		digits = label[2:]
		return strings.Trim(digits, "0123456789abcdef") == ""
	}
	return strings.Trim(digits, "0123456789") == ""
}

// checkDial is a net.Dialer Control function that refuses to connect to an
// internal address: it runs after name resolution, on the address about to be
// connected, so a name that resolves to an internal address is refused too.
func checkDial(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("trigger: cannot check address %q: %w", address, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("trigger: cannot check address %q: %w", address, err)
	}
	if kind, ok := internal(ip); ok {
		return fmt.Errorf("trigger: refusing to connect to %s, an internal (%s) address", ip, kind)
	}
	return nil
}
