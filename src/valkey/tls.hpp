// Internal: the OpenSSL side of a TLS connection. A client context built from TlsConfig, the
// name each connection sends and checks, and handshake failures told in words.
#pragma once

#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/system/error_code.hpp>
#include <string>

#include "opencode_cache/valkey/client_config.hpp"

namespace opencode_cache::valkey::detail {

// Over the Connection's own socket, so that TCP options and close() need no second path.
using TlsStream = boost::asio::ssl::stream<boost::asio::generic::stream_protocol::socket&>;

// A TLS 1.2+ client context that trusts, presents and verifies what `tls` says.
// Throws Error(tls_error) for certificate, key or CA files that cannot be loaded.
boost::asio::ssl::context make_tls_context(const TlsConfig& tls);

// tls.server_name, or the host we connect to.
std::string tls_server_name(const ClientConfig& config);

// Sends `name` as SNI (DNS names only, as RFC 6066 asks) and, when the peer is verified,
// requires the server's certificate to carry it. Throws Error(tls_error) if OpenSSL refuses it.
void expect_server_name(TlsStream& stream, const std::string& name, bool verify_peer);

// Why a handshake failed, for the error detail: the certificate verification result when
// verification was what failed, with a hint at the setting that fixes it.
std::string describe_handshake_failure(TlsStream& stream, const boost::system::error_code& ec,
                                       const std::string& name);

// True for errors that come from the TLS layer rather than from the socket.
bool is_tls_error(const boost::system::error_code& ec);

}  // namespace opencode_cache::valkey::detail
