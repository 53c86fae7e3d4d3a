package api

import (
	"net/http"
	"net/netip"
	"testing"
)

// FuzzClientAddr: whatever X-Forwarded-For and RemoteAddr hold, the
// client address is an IP address in canonical form (or, for a RemoteAddr
// that is none, at most capAddr bytes): no text a client wrote reaches the
// logs, the audit log or the throttle's keys.
func FuzzClientAddr(f *testing.F) {
	f.Add("127.0.0.1:4711", "203.0.113.9")
	f.Add("127.0.0.1:4711", "evil, 203.0.113.9:80, [2001:db8::1]:443")
	f.Add("10.0.0.1:1", "fe80::1%eth0, ::ffff:10.0.0.2")
	f.Add("@", "")
	s := &Server{o: Options{TrustedProxies: []netip.Prefix{
		netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")}}}
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := &http.Request{RemoteAddr: remote, Header: http.Header{"X-Forwarded-For": {xff}}}
		got := s.clientAddr(r)
		if a, err := netip.ParseAddr(got); err == nil {
			if a.String() != got || a.Zone() != "" || a.Is4In6() {
				t.Fatalf("clientAddr(%q, %q) = %q: not canonical", remote, xff, got)
			}
			return
		}
		if len(got) > capAddr {
			t.Fatalf("clientAddr(%q, %q) = %q: %d bytes", remote, xff, got, len(got))
		}
	})
}
