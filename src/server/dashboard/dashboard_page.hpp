// The operator's dashboard, GET /: one HTML page (dashboard.html, embedded at build time) that
// reads /metrics, /api/cache/stats and /api/events from the gateway serving it.
#pragma once

#include <string_view>

namespace opencode_cache::server::dashboard {

std::string_view page();

}  // namespace opencode_cache::server::dashboard
