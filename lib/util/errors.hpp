// Mapping from errno values to the C API's EDDY_E* codes.
#pragma once

namespace eddy {

// Returns the EDDY_E* code for an errno value (EDDY_EIO for anything without its own code).
int error_from_errno(int err);

}  // namespace eddy
