//go:build eddy_pkgconfig

package eddy

// With `go build -tags eddy_pkgconfig`, cgo asks pkg-config for eddy's flags (set
// PKG_CONFIG_PATH=<prefix>/lib/pkgconfig for an install outside the default search path, and
// LD_LIBRARY_PATH or an rpath in CGO_LDFLAGS when that prefix is not in the loader's path).

// #cgo pkg-config: eddy
import "C"
