#include "opencode_cache/valkey/error.hpp"

namespace opencode_cache::valkey {
namespace {

class ValkeyErrorCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "valkey"; }

  std::string message(int code) const override {
    switch (static_cast<errc>(code)) {
      case errc::server_error: return "server error reply";
      case errc::timeout: return "deadline exceeded";
      case errc::io_error: return "connection I/O error";
      case errc::protocol_error: return "RESP protocol error";
      case errc::connection_lost: return "connection lost before the reply; outcome unknown";
      case errc::not_connected: return "not connected";
      case errc::auth_failed: return "authentication failed";
      case errc::queue_full: return "too many commands waiting for a connection";
      case errc::closed: return "client closed";
      case errc::unexpected_reply: return "unexpected reply type";
      case errc::invalid_json: return "stored value is not the expected JSON";
      case errc::invalid_config: return "invalid configuration";
      case errc::tls_error: return "TLS error";
      case errc::transaction_aborted: return "transaction aborted: a watched key changed";
      case errc::connection_changed: return "not sent: the connection it depended on was replaced";
      case errc::circuit_open: return "not sent: the circuit breaker is open";
      case errc::cancelled: return "cancelled by the caller";
      case errc::unsupported_command: return "not sent: unsupported on a shared connection";
      case errc::undecryptable: return "stored value does not decrypt";
      case errc::cross_slot: return "not sent: its keys are in different cluster slots";
    }
    return "unknown valkey error";
  }
};

}  // namespace

const std::error_category& error_category() noexcept {
  static const ValkeyErrorCategory category;
  return category;
}

std::error_code make_error_code(errc code) noexcept {
  return {static_cast<int>(code), error_category()};
}

ServerError::ServerError(std::string message)
    : Error(errc::server_error, message), message_(std::move(message)) {}

std::string_view ServerError::prefix() const noexcept {
  const std::string_view text = message_;
  return text.substr(0, text.find(' '));
}

}  // namespace opencode_cache::valkey
