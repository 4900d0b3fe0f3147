// Whether an idle pooled backend is still usable: it must be open and silent. A backend
// ended by pg_terminate_backend, a restart or a dead tunnel has sent its FATAL and/or
// EOF, which makes the socket readable; an idle PostgreSQL backend sends nothing unless
// asked (sluice UNLISTENs with the reset), so any readable byte disqualifies it.
#pragma once

#include "gateway/pg_stream.hpp"

namespace sluice::gateway::pool {

bool open_and_quiet(pg_stream& s);

}  // namespace sluice::gateway::pool
