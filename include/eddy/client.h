/* eddy — the asynchronous HTTP client (placeholder while it is being written). */
#ifndef EDDY_CLIENT_H
#define EDDY_CLIENT_H
#include "tls.h"
#endif /* EDDY_CLIENT_H */
