#include "tls.hpp"

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/error.hpp>
#include <filesystem>

#include "opencode_cache/valkey/error.hpp"

namespace opencode_cache::valkey::detail {
namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;

namespace {

[[noreturn]] void throw_tls(const std::string& what) {
  throw Error(errc::tls_error, what);
}

void throw_if_failed(const boost::system::error_code& ec, const std::string& what) {
  if (ec) throw_tls(what + ": " + ec.message());
}

void trust_configured_authorities(ssl::context& context, const TlsConfig& tls) {
  boost::system::error_code ec;
  if (tls.ca_file.empty() && tls.ca_dir.empty()) {
    context.set_default_verify_paths(ec);
    throw_if_failed(ec, "cannot load the system's trusted CA certificates");
    return;
  }
  if (!tls.ca_file.empty()) {
    context.load_verify_file(tls.ca_file, ec);
    throw_if_failed(ec, "cannot load the TLS CA file '" + tls.ca_file + "'");
  }
  if (!tls.ca_dir.empty()) {
    // OpenSSL only looks into the directory during a handshake, where a wrong path would
    // surface as an unknown issuer; checked here it names the real mistake.
    std::error_code fs_ec;
    if (!std::filesystem::is_directory(tls.ca_dir, fs_ec)) {
      throw_tls("the TLS CA directory '" + tls.ca_dir + "' is not a directory");
    }
    context.add_verify_path(tls.ca_dir, ec);
    throw_if_failed(ec, "cannot use the TLS CA directory '" + tls.ca_dir + "'");
  }
}

void present_client_certificate(ssl::context& context, const TlsConfig& tls) {
  if (tls.cert_file.empty()) {
    if (!tls.key_file.empty()) throw_tls("a TLS key_file is set without a cert_file");
    return;
  }
  boost::system::error_code ec;
  context.use_certificate_chain_file(tls.cert_file, ec);
  throw_if_failed(ec, "cannot load the TLS client certificate '" + tls.cert_file + "'");
  const std::string& key_file = tls.key_file.empty() ? tls.cert_file : tls.key_file;
  // OpenSSL also checks here that the key belongs to the certificate.
  context.use_private_key_file(key_file, ssl::context::pem, ec);
  throw_if_failed(ec, "cannot load the TLS client key '" + key_file + "'");
}

bool is_ip_address(const std::string& name) {
  boost::system::error_code not_an_address;
  asio::ip::make_address(name, not_an_address);
  return !not_an_address;
}

bool is_name_mismatch(long verify_result) {
  return verify_result == X509_V_ERR_HOSTNAME_MISMATCH ||
         verify_result == X509_V_ERR_IP_ADDRESS_MISMATCH;
}

}  // namespace

ssl::context make_tls_context(const TlsConfig& tls) {
  ssl::context context(ssl::context::tls_client);
  // TLS 1.0 and 1.1 are broken and Valkey has never needed them.
  SSL_CTX_set_min_proto_version(context.native_handle(), TLS1_2_VERSION);
  trust_configured_authorities(context, tls);
  present_client_certificate(context, tls);
  context.set_verify_mode(tls.verify_peer ? ssl::verify_peer : ssl::verify_none);
  return context;
}

std::string tls_server_name(const ClientConfig& config) {
  return config.tls.server_name.empty() ? config.host : config.tls.server_name;
}

void expect_server_name(TlsStream& stream, const std::string& name, bool verify_peer) {
  SSL* session = stream.native_handle();
  const bool ip = is_ip_address(name);
  // Servers behind a proxy or a shared address pick their certificate by SNI, so it is sent
  // even when the certificate is not checked.
  if (!ip && SSL_set_tlsext_host_name(session, name.c_str()) != 1) {
    throw_tls("cannot send '" + name + "' as the TLS server name");
  }
  if (!verify_peer) return;
  // Left to OpenSSL's own checks (RFC 6125 rules, IP SANs) rather than a verify callback,
  // so that a mismatch is reported by SSL_get_verify_result like any other failure.
  X509_VERIFY_PARAM* param = SSL_get0_param(session);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  const int set = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str())
                     : X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
  if (set != 1) throw_tls("cannot verify the TLS server name '" + name + "'");
}

std::string describe_handshake_failure(TlsStream& stream, const boost::system::error_code& ec,
                                       const std::string& name) {
  const long result = SSL_get_verify_result(stream.native_handle());
  if (result == X509_V_OK) return ec.message();
  std::string reason =
      std::string("certificate verification failed: ") + X509_verify_cert_error_string(result);
  if (is_name_mismatch(result)) {
    return reason + " (the server's certificate is not for '" + name +
           "'; tls.server_name sets the name to expect)";
  }
  return reason + " (is the server's certificate signed by a CA in tls.ca_file or tls.ca_dir?)";
}

bool is_tls_error(const boost::system::error_code& ec) {
  return ec.category() == asio::error::get_ssl_category();
}

}  // namespace opencode_cache::valkey::detail
