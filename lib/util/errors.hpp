// Mapping from errno values to the C API's EDDY_E* codes; the version as text.
#pragma once

#include <cerrno>

#include "eddy/common.h"

#define EDDY_STR2(x) #x
#define EDDY_STR(x) EDDY_STR2(x)
// "0.1.0", from EDDY_VERSION_* (the Server and User-Agent fields name it).
#define EDDY_VERSION_TEXT                                                                          \
    EDDY_STR(EDDY_VERSION_MAJOR) "." EDDY_STR(EDDY_VERSION_MINOR) "." EDDY_STR(EDDY_VERSION_PATCH)

namespace eddy {

// Returns the EDDY_E* code for an errno value (EDDY_EIO for anything without its own code).
int error_from_errno(int err);

// The errno a TLS stream reports for a TLS failure after the handshake (an alert such as TLS
// 1.3's certificate_required, a bad record): EBADE, which no socket call returns, maps to
// EDDY_ETLS.
constexpr int kTlsFailureErrno = EBADE;

}  // namespace eddy
