#include "http/parse_state.hpp"

namespace eddy::http {

ParseStatePool::~ParseStatePool() {
    while (spares_) {
        ParseState *state = spares_;
        spares_ = state->next_spare;
        delete state;
    }
}

}  // namespace eddy::http
