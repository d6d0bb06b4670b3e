// Errors of the Valkey client: one std::error_category, and exceptions that carry it.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace opencode_cache::valkey {

enum class errc {
  server_error = 1,  // the server answered with an error reply (see ServerError)
  timeout,           // the command's deadline passed; it may still run on the server
  io_error,          // the socket failed: refused, reset, unreachable
  protocol_error,    // the server sent bytes that are not valid RESP; the connection is reset
  connection_lost,   // written, then the connection dropped before the reply: outcome unknown
  not_connected,     // no connection could be made within the reconnect budget
  auth_failed,       // the server refused our credentials (WRONGPASS, NOAUTH, NOPERM on HELLO)
  queue_full,        // too many commands wait for a connection
  closed,            // the client was closed
  unexpected_reply,  // the reply's type is not what the command returns
  invalid_json,      // a stored value is not the JSON the caller asked for
  invalid_config,    // a URL or environment variable could not be used
  tls_error,         // TLS failed: certificate verification, handshake, unreadable cert/key files
  transaction_aborted,  // EXEC did not run: a WATCHed key changed
  connection_changed,   // not sent: it depended on a connection (WATCH) that was replaced
  circuit_open,         // not sent: the circuit breaker is open after repeated failures
  cancelled,            // the caller's cancellation slot fired (operator||, parallel_group, a
                        // cancellation_signal); the command may still run on the server
  unsupported_command,  // refused: the command would change or block the shared connection
  undecryptable,  // a value of a sealed namespace does not open: tampered, moved, key not known
  cross_slot,     // not sent: on a cluster, a script or transaction names keys of several slots
};

const std::error_category& error_category() noexcept;
std::error_code make_error_code(errc code) noexcept;

// Every exception the client throws is an Error; code() tells which kind.
// what() reads "<detail>: <what the code means>"; detail() is the first part alone.
class Error : public std::system_error {
 public:
  Error(errc code, const std::string& detail)
      : std::system_error(make_error_code(code), detail), detail_(detail) {}
  Error(std::error_code code, const std::string& detail)
      : std::system_error(code, detail), detail_(detail) {}
  const std::string& detail() const noexcept { return detail_; }

 private:
  std::string detail_;
};

// The server's error reply, such as "WRONGTYPE Operation against a key holding the wrong
// kind of value": prefix() is its first word, message() the whole text.
class ServerError : public Error {
 public:
  explicit ServerError(std::string message);
  std::string_view prefix() const noexcept;
  const std::string& message() const noexcept { return message_; }

 private:
  std::string message_;
};

}  // namespace opencode_cache::valkey

template <>
struct std::is_error_code_enum<opencode_cache::valkey::errc> : std::true_type {};
