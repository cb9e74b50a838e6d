package eddy

// #include <stdlib.h>
// #include "shim.h"
import "C"

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"unsafe"
)

// hostPort is a HostnameMapping key or target: a lower-case host and a port, "" for none.
type hostPort struct{ host, port string }

// parseHostPort reads "host", "host:port", "[v6]", "[v6]:port" or a bare IPv6 address.
func parseHostPort(s string) (hostPort, error) {
	hp := hostPort{host: s}
	if strings.HasPrefix(s, "[") || strings.Count(s, ":") == 1 {
		if h, p, err := net.SplitHostPort(s); err == nil {
			hp = hostPort{h, p}
		} else if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
			hp.host = s[1 : len(s)-1]
		} else {
			return hp, err
		}
	}
	hp.host = strings.ToLower(hp.host)
	if hp.port != "" {
		if n, err := strconv.Atoi(hp.port); err != nil || n < 1 || n > 65535 {
			return hp, fmt.Errorf("bad port %q", hp.port)
		}
	}
	if hp.host == "" {
		return hp, fmt.Errorf("no host")
	}
	return hp, nil
}

// parseMapping checks HTTPClientOptions.HostnameMapping when the client opens.
func parseMapping(m map[string]string) (map[hostPort]hostPort, error) {
	out := make(map[hostPort]hostPort, len(m))
	for from, to := range m {
		k, err := parseHostPort(from)
		var v hostPort
		if err == nil {
			v, err = parseHostPort(to)
		}
		if err != nil {
			return nil, fmt.Errorf("eddy: HTTPClientOptions.HostnameMapping %q: %q: %v: %w",
				from, to, err, ErrInvalid)
		}
		out[k] = v
	}
	return out, nil
}

// connectTo applies HostnameMapping to the unstarted fetch cf of rawURL (loop thread): eddy
// then connects to the mapped address while the request — Host field, origin-form target,
// TLS server name and certificate check — still names the URL, as Tornado's does.
func (c *HTTPClient) connectTo(cf *C.eddy_fetch, rawURL string) error {
	if len(c.mapping) == 0 {
		return nil
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return nil // eddy refuses it with ErrInvalid itself
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if strings.EqualFold(u.Scheme, "https") {
			port = "443"
		}
	}
	host := strings.ToLower(u.Hostname())
	to, ok := c.mapping[hostPort{host, port}]
	if !ok {
		if to, ok = c.mapping[hostPort{host, ""}]; !ok {
			return nil
		}
	}
	toPort := 0 // eddy's "the URL's port"
	if to.port != "" {
		toPort, _ = strconv.Atoi(to.port) // checked by parseHostPort
	}
	ch := C.CString(to.host)
	rc := C.eddy_fetch_set_connect_to(cf, ch, C.int(toPort))
	C.free(unsafe.Pointer(ch))
	if err := check(rc); err != nil {
		return fmt.Errorf("eddy: HostnameMapping of %s to %q: %w", host, to.host, err)
	}
	return nil
}
