/* The TLS facts of the connection a request arrived on (include/eddy/tls.h), for handlers
 * (web.lua's Handler:tls_server_name / get_ssl_certificate) and the raw server's requests.
 * %included by eddy_core.i after its natives (it uses CHECK_PTR and the SWIG type table).
 * tls.h itself is not wrapped: its contexts are built by the natives that read Tornado's
 * ssl_options, so only these two request getters are declared here. */

/* The SNI name the client sent, or nil (plain HTTP, no SNI: it connected to an IP address,
 * or the connection is gone). A plain declaration: SWIG's char * result turns NULL into nil. */
const char *eddy_request_tls_server_name(const eddy_request *req);

%{
/* request_tls_peer_certificate(req) -> DER string, or nil and the EDDY_E* code: EDDY_ENOENT
 * (plain HTTP, or the client presented none: the server asks only with ssl_options'
 * ca_certs / cert_reqs), EDDY_ECLOSED (the connection is gone). The code lets a handler tell
 * "no certificate" from "too late to know"; Tornado's None covers both. */
static int l_request_tls_peer_certificate(lua_State *L) {
    CHECK_PTR(req, eddy_request, 1, SWIGTYPE_p_eddy_request);
    size_t need = 0;
    /* Asked with no buffer, a present certificate answers EDDY_ETOOBIG and its size. */
    int rc = eddy_request_tls_peer_certificate(req, NULL, &need);
    if (rc == EDDY_ETOOBIG) {
        luaL_Buffer b;
        unsigned char *buf = (unsigned char *)luaL_buffinitsize(L, &b, need);
        size_t len = need;
        rc = eddy_request_tls_peer_certificate(req, buf, &len);
        if (rc == 0) {
            luaL_pushresultsize(&b, len);
            return 1;
        }
        lua_pop(L, 1); /* the buffer's box */
    }
    lua_pushnil(L);
    lua_pushinteger(L, rc);
    return 2;
}
%}

%native(request_tls_peer_certificate) int l_request_tls_peer_certificate(lua_State *L);
