package eddy

import (
	"fmt"
	"strings"
)

// checkDefaults refuses, rather than ignores, what HTTPClientOptions.Defaults cannot carry:
// the fields that only make sense for one request.
func checkDefaults(d *HTTPRequest) error {
	var bad []string
	for _, f := range []struct {
		set  bool
		name string
	}{
		{d.URL != "", "URL"}, {d.Method != "", "Method"}, {d.Body != nil, "Body"},
		{d.BodyStream || d.BodyStreamLength != 0, "BodyStream"},
		{d.OnHeaders != nil, "OnHeaders"}, {d.OnChunk != nil, "OnChunk"},
	} {
		if f.set {
			bad = append(bad, f.name)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("eddy: HTTPClientOptions.Defaults: %s cannot be a default: %w",
			strings.Join(bad, ", "), ErrInvalid)
	}
	return nil
}

// withDefaults fills the zero fields of r (the fetch's own copy) from d. A zero value is
// "unset" here as everywhere in HTTPRequest, so a request cannot turn a true default of the
// No*/Expect100Continue flags back off (a client without that default can).
func (r *HTTPRequest) withDefaults(d *HTTPRequest) {
	if r.UserAgent == "" {
		// The request's own User-Agent field beats a default UserAgent (its own value wins).
		if _, own := r.Header.Lookup("User-Agent"); !own {
			r.UserAgent = d.UserAgent
		}
	}
	if len(d.Header) > 0 {
		// A new slice: the caller's Header is not ours to append to.
		merged := append(make(HTTPHeader, 0, len(r.Header)+len(d.Header)), r.Header...)
		for _, f := range d.Header {
			if _, own := r.Header.Lookup(f.Name); !own {
				merged = append(merged, f)
			}
		}
		r.Header = merged
	}
	if r.ConnectTimeout == 0 {
		r.ConnectTimeout = d.ConnectTimeout
	}
	if r.RequestTimeout == 0 {
		r.RequestTimeout = d.RequestTimeout
	}
	if r.ReadTimeout == 0 {
		r.ReadTimeout = d.ReadTimeout
	}
	if r.MaxRedirects == 0 {
		r.MaxRedirects = d.MaxRedirects
	}
	if r.MaxBodySize == 0 {
		r.MaxBodySize = d.MaxBodySize
	}
	r.NoFollowRedirects = r.NoFollowRedirects || d.NoFollowRedirects
	r.NoDecompressResponse = r.NoDecompressResponse || d.NoDecompressResponse
	r.Expect100Continue = r.Expect100Continue || d.Expect100Continue
}
