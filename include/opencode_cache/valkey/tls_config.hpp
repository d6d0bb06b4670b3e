// TLS settings for rediss:// and valkeys:// connections.
#pragma once

#include <string>

namespace opencode_cache::valkey {

struct TlsConfig {
  bool enabled = false;

  // Whom to trust. With neither set, the system's default trust store is used, which is what
  // managed services with publicly signed certificates need.
  std::string ca_file;  // PEM file of one or more CA certificates
  std::string ca_dir;   // directory of CA certificates named by subject hash (openssl rehash)

  // A client certificate, for servers started with tls-auth-clients yes/optional.
  std::string cert_file;  // PEM certificate, optionally followed by its chain
  std::string key_file;   // its PEM private key; empty: the key is in cert_file too

  // Sent as SNI and expected in the server's certificate (DNS name or IP address SAN).
  // Empty: ClientConfig::host.
  std::string server_name;

  // Turning this off accepts any certificate, so anyone on the path can read and change the
  // traffic: for tests and self-signed development servers only.
  bool verify_peer = true;
};

}  // namespace opencode_cache::valkey
