package eddy

// #include "shim.h"
import "C"

import (
	"net"
	"strconv"
	"syscall"
)

// The local addresses of listening sockets (Tornado keeps its listening socket objects in
// TCPServer._sockets; a caller learns a port-0 socket's port with getsockname there). eddy
// reports each socket's descriptor (eddy_listener_socket_fd / eddy_server_listening_fd, owned
// by the listener): read on the loop thread during Start, kept for Addrs.

// fdAddr is the local address of the socket fd as a *net.TCPAddr or *net.UnixAddr; nil when
// it cannot be read.
func fdAddr(fd int) net.Addr {
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		return nil
	}
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return &net.TCPAddr{IP: net.IPv4(a.Addr[0], a.Addr[1], a.Addr[2], a.Addr[3]), Port: a.Port}
	case *syscall.SockaddrInet6:
		ip := make(net.IP, net.IPv6len)
		copy(ip, a.Addr[:])
		zone := ""
		if a.ZoneId != 0 {
			zone = strconv.Itoa(int(a.ZoneId))
			if ifi, err := net.InterfaceByIndex(int(a.ZoneId)); err == nil {
				zone = ifi.Name
			}
		}
		return &net.TCPAddr{IP: ip, Port: a.Port, Zone: zone}
	case *syscall.SockaddrUnix:
		return &net.UnixAddr{Name: a.Name, Net: "unix"}
	}
	return nil
}

// listenerAddrs is every listening socket's address of l, in the order they were bound or
// added. Loop thread.
func listenerAddrs(l *C.eddy_listener) []net.Addr {
	var addrs []net.Addr
	n := int(C.eddy_listener_socket_count(l))
	for i := 0; i < n; i++ {
		if fd := int(C.eddy_listener_socket_fd(l, C.int(i))); fd >= 0 {
			if a := fdAddr(fd); a != nil {
				addrs = append(addrs, a)
			}
		}
	}
	return addrs
}

// serverAddrs is every listening socket's address of srv. Loop thread.
func serverAddrs(srv *C.eddy_server) []net.Addr {
	var addrs []net.Addr
	for i := 0; ; i++ {
		fd := int(C.eddy_server_listening_fd(srv, C.int(i)))
		if fd < 0 {
			return addrs
		}
		if a := fdAddr(fd); a != nil {
			addrs = append(addrs, a)
		}
	}
}
