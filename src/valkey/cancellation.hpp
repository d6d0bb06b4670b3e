// Internal: a caller's cancellation (its coroutine's cancellation slot fired: operator||
// lost, a parallel_group, an explicit cancellation_signal), told apart from every other way a
// wait ends and turned into the one documented error.
//
// Once a coroutine's cancellation state says "cancelled", Asio throws operation_aborted from
// that coroutine's next co_await of an async operation or awaitable. So a multi-step call
// checks before each further step and fails with errc::cancelled instead.
#pragma once

#include <boost/asio/cancellation_state.hpp>
#include <boost/asio/cancellation_type.hpp>

#include "opencode_cache/valkey/error.hpp"

namespace opencode_cache::valkey::detail {

inline bool is_cancelled(const boost::asio::cancellation_state& state) noexcept {
  return state.cancelled() != boost::asio::cancellation_type::none;
}

inline Error cancelled_error() {
  return Error(errc::cancelled, "the caller stopped waiting");
}

// Use as: detail::throw_if_cancelled(co_await boost::asio::this_coro::cancellation_state);
inline void throw_if_cancelled(const boost::asio::cancellation_state& state) {
  if (is_cancelled(state)) throw cancelled_error();
}

}  // namespace opencode_cache::valkey::detail
