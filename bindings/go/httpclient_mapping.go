package eddy

// #include "shim.h"
import "C"

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
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

// clientFor returns the C client a fetch of rawURL goes through (loop thread): the client's
// own, or for a mapped host the one that reaches the mapped address as an HTTP proxy. eddy's
// client drops a Host field given by the caller and connects to the URL's host, so proxying
// is how the C API connects elsewhere while the URL (hence the Host field) stays.
func (c *HTTPClient) clientFor(rawURL string) (*C.eddy_client, error) {
	if len(c.mapping) == 0 {
		return c.c, nil
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return c.c, nil // eddy refuses it with ErrInvalid itself
	}
	scheme, port := strings.ToLower(u.Scheme), u.Port()
	if port == "" {
		port = "80"
		if scheme == "https" {
			port = "443"
		}
	}
	host := strings.ToLower(u.Hostname())
	to, ok := c.mapping[hostPort{host, port}]
	if !ok {
		if to, ok = c.mapping[hostPort{host, ""}]; !ok {
			return c.c, nil
		}
	}
	if scheme != "http" {
		// Through a proxy eddy would send CONNECT to the mapped address, which is no proxy.
		return nil, fmt.Errorf("eddy: HostnameMapping of %s: only http:// URLs can be mapped: %w",
			rawURL, ErrInvalid)
	}
	if to.port == "" {
		to.port = port
	}
	addr := net.JoinHostPort(to.host, to.port)
	if cc := c.mapped[addr]; cc != nil {
		return cc, nil
	}
	cc := C.eddy_client_new(c.app.loop)
	if cc == nil {
		return nil, ErrNoMemory
	}
	opts := c.opts // the pool options; TLS is moot for http
	opts.Proxy, opts.TLS = addr, ClientTLS{}
	if err := configureClient(cc, &opts); err != nil {
		C.eddy_client_free(cc)
		return nil, err
	}
	c.mapped[addr] = cc
	return cc, nil
}
