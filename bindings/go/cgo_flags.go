//go:build !eddy_pkgconfig

package eddy

// Default link line: the include and library directories come from the environment
// (CGO_CFLAGS="-I<eddy>/include", CGO_LDFLAGS="-L<dir of libeddy.so> -Wl,-rpath,<same>"), as
// bindings/go/CMakeLists.txt sets them for the build tree. Against an installed eddy, build with
// `-tags eddy_pkgconfig` instead (see cgo_pkgconfig.go).

// #cgo LDFLAGS: -leddy
import "C"
