// What a connection calls for each request it has read.
#pragma once

#include "server/http/exchange.hpp"

namespace opencode_cache::server::http {

class Handler {
 public:
  virtual ~Handler() = default;
  virtual Task<void> handle(Request& request, Responder& responder) = 0;
};

}  // namespace opencode_cache::server::http
