/* eddy — an embeddable asynchronous web server library: Tornado's architecture (event loop,
 * streams, TCP server, HTTP/1.1, Application, WebSocket, HTTP client) as a C++ core behind a
 * plain C ABI.
 *
 * Include this header; it includes the others. Every public function is documented in its own
 * header. The conventions (opaque handles, negative EDDY_E* error codes, userdata + free
 * function pairs, one loop per thread) are described at the top of common.h.
 */
#ifndef EDDY_EDDY_H
#define EDDY_EDDY_H

#include "client.h"
#include "common.h"
#include "http.h"
#include "loop.h"
#include "net.h"
#include "process.h"
#include "stream.h"
#include "subprocess.h"
#include "tls.h"
#include "web.h"
#include "websocket.h"

#endif /* EDDY_EDDY_H */
