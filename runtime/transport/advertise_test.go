package transport

import (
	"net"
	"testing"
)

// A node bound to every interface (0.0.0.0, ::) gives its peers an address
// they can reach, not "[::]:port": a private IPv4 of the machine first,
// then a global one, then loopback. A node bound to one address gives it.
func TestANodeBoundToEveryInterfaceAdvertisesOneOfThem(t *testing.T) {
	ips := func(s ...string) func() []net.IP {
		return func() []net.IP {
			var out []net.IP
			for _, x := range s {
				out = append(out, net.ParseIP(x))
			}
			return out
		}
	}
	for _, tc := range []struct {
		bind string
		ips  func() []net.IP
		want string
	}{
		{"[::]:7946", ips("127.0.0.1", "::1", "fe80::1", "2001:db8::5", "10.1.2.3"), "10.1.2.3:7946"},
		{"0.0.0.0:7946", ips("127.0.0.1", "2001:db8::5"), "[2001:db8::5]:7946"},
		{"0.0.0.0:7946", ips("127.0.0.1", "::1"), "127.0.0.1:7946"},
		{"127.0.0.1:7946", ips("10.1.2.3"), "127.0.0.1:7946"},
		{"[::1]:7946", ips("10.1.2.3"), "[::1]:7946"},
	} {
		a, err := net.ResolveTCPAddr("tcp", tc.bind)
		if err != nil {
			t.Fatal(err)
		}
		if got := advertised(a, tc.ips); got != tc.want {
			t.Errorf("bound to %s: advertises %s, want %s", tc.bind, got, tc.want)
		}
	}
}
