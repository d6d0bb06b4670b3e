#include "opencode_cache/valkey/client_config.hpp"

#include <algorithm>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <charconv>
#include <cstdlib>

#include "opencode_cache/valkey/error.hpp"

namespace opencode_cache::valkey {
namespace {

[[noreturn]] void invalid(const std::string& what) {
  throw Error(errc::invalid_config, what);
}

template <class Int>
bool parse_number(std::string_view text, Int& out) {
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return !text.empty() && ec == std::errc{} && ptr == end;
}

int parse_database(std::string_view text, std::string_view where) {
  int db = 0;
  if (!parse_number(text, db) || db < 0) {
    invalid(std::string(where) + ": database must be a non-negative integer, got '" +
            std::string(text) + "'");
  }
  return db;
}

std::uint16_t parse_port(std::string_view text, std::string_view where) {
  unsigned port = 0;
  if (!parse_number(text, port) || port == 0 || port > 65535) {
    invalid(std::string(where) + ": port must be 1-65535, got '" + std::string(text) + "'");
  }
  return static_cast<std::uint16_t>(port);
}

// Boost.URL rejects a port that is not a number with a bare syntax error ("leftover"); this
// finds that case so that the error can say what is wrong. The text is not echoed: in a
// malformed URL it may be part of a password.
bool has_non_numeric_port(std::string_view text) {
  const auto scheme_end = text.find("://");
  if (scheme_end == std::string_view::npos) return false;
  std::string_view authority = text.substr(scheme_end + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
    authority.remove_prefix(at + 1);
  }
  if (authority.starts_with('[')) {  // IPv6: its colons are not the port's
    authority.remove_prefix(std::min(authority.find(']'), authority.size()));
  }
  const auto colon = authority.find(':');
  if (colon == std::string_view::npos) return false;
  return authority.find_first_not_of("0123456789", colon + 1) != std::string_view::npos;
}

std::string host_of(const boost::urls::url_view& url) {
  switch (url.host_type()) {
    case boost::urls::host_type::ipv6: return url.host_ipv6_address().to_string();
    case boost::urls::host_type::ipv4: return url.host_ipv4_address().to_string();
    default: return url.host();
  }
}

bool parse_flag(std::string_view text, bool& out) {
  if (text == "true" || text == "yes" || text == "1") {
    out = true;
  } else if (text == "false" || text == "no" || text == "0") {
    out = false;
  } else {
    return false;
  }
  return true;
}

// The TlsConfig member a URL parameter names, or nullptr for a parameter that is not a TLS one
// (verify_peer, the only flag, is handled by the caller).
std::string* tls_string_parameter(std::string_view key, TlsConfig& tls) {
  if (key == "ca_file") return &tls.ca_file;
  if (key == "ca_dir") return &tls.ca_dir;
  if (key == "cert_file") return &tls.cert_file;
  if (key == "key_file") return &tls.key_file;
  if (key == "server_name") return &tls.server_name;
  return nullptr;
}

void apply_tls_parameter(std::string_view key, std::string_view value, TlsConfig& tls) {
  // Certificate settings on a plain URL would be ignored; a user who wrote them meant TLS.
  if (!tls.enabled) {
    invalid("URL parameter '" + std::string(key) + "' needs a TLS URL (valkeys:// or rediss://)");
  }
  if (key == "verify_peer") {
    if (!parse_flag(value, tls.verify_peer)) {
      invalid("URL verify_peer parameter must be true or false, got '" + std::string(value) + "'");
    }
    return;
  }
  *tls_string_parameter(key, tls) = value;
}

// Unknown parameters are ignored, as other Valkey clients do, so that one URL can serve several.
void apply_query(const boost::urls::url_view& url, ClientConfig& config) {
  for (auto param : url.params()) {
    if (param.key == "db") {
      config.database = parse_database(param.value, "URL db parameter");
    } else if (param.key == "verify_peer" ||
               tls_string_parameter(param.key, config.tls) != nullptr) {
      apply_tls_parameter(param.key, param.value, config.tls);
    }
  }
}

void apply_network_url(const boost::urls::url_view& url, ClientConfig& config) {
  config.host = host_of(url);
  if (config.host.empty()) invalid("URL has no host");
  config.port = url.has_port() ? parse_port(url.port(), "URL") : 6379;
  if (url.has_userinfo()) {
    config.username = url.user();
    if (url.has_password()) config.password = url.password();
  }
  std::string_view path = url.encoded_path();
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  if (!path.empty()) config.database = parse_database(path, "URL path");
  apply_query(url, config);
}

// "valkey+cluster://user:pw@h1:p1,h2:p2/0?x=y": the scheme without "+cluster", the first
// host in place of the list, and the others as seeds.
struct ClusterUrl {
  std::string single_node_url;
  std::vector<std::pair<std::string, std::uint16_t>> other_seeds;
};

std::optional<ClusterUrl> split_cluster_url(std::string_view text) {
  const auto scheme_end = text.find("://");
  if (scheme_end == std::string_view::npos) return std::nullopt;
  const std::string_view scheme = text.substr(0, scheme_end);
  if (!scheme.ends_with("+cluster")) return std::nullopt;
  ClusterUrl out;
  const std::string_view base_scheme = scheme.substr(0, scheme.size() - 8);
  std::string_view rest = text.substr(scheme_end + 3);
  const auto authority_end = std::min(rest.find_first_of("/?#"), rest.size());
  std::string_view authority = rest.substr(0, authority_end);
  const std::string_view tail = rest.substr(authority_end);
  std::string_view userinfo;
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
    userinfo = authority.substr(0, at + 1);
    authority.remove_prefix(at + 1);
  }
  const auto comma = authority.find(',');
  const std::string_view first = authority.substr(0, comma);
  out.single_node_url = std::string(base_scheme) + "://" + std::string(userinfo) +
                        std::string(first) + std::string(tail);
  std::string_view others =
      comma == std::string_view::npos ? std::string_view{} : authority.substr(comma + 1);
  while (!others.empty()) {
    const auto next = others.find(',');
    const std::string_view seed = others.substr(0, next);
    others = next == std::string_view::npos ? std::string_view{} : others.substr(next + 1);
    if (seed.empty()) continue;
    const auto colon = seed.rfind(':');
    if (colon == std::string_view::npos) {
      out.other_seeds.emplace_back(std::string(seed), 6379);
    } else {
      out.other_seeds.emplace_back(std::string(seed.substr(0, colon)),
                                   parse_port(seed.substr(colon + 1), "URL seed"));
    }
  }
  return out;
}

}  // namespace

ClientConfig ClientConfig::from_url(std::string_view text) {
  if (auto cluster = split_cluster_url(text)) {
    ClientConfig config = from_url(cluster->single_node_url);
    config.cluster = true;
    config.cluster_seeds = std::move(cluster->other_seeds);
    return config;
  }
  auto parsed = boost::urls::parse_uri(text);
  if (!parsed) {
    if (has_non_numeric_port(text)) invalid("URL: port must be a number 1-65535");
    invalid("not a URL: " + parsed.error().message());
  }
  const boost::urls::url_view url = *parsed;
  ClientConfig config;
  const std::string_view scheme = url.scheme();
  if (scheme == "unix") {
    config.unix_path = url.path();
    if (config.unix_path.empty()) invalid("unix URL has no socket path");
    apply_query(url, config);
  } else if (scheme == "valkey" || scheme == "redis") {
    apply_network_url(url, config);
  } else if (scheme == "valkeys" || scheme == "rediss") {
    config.tls.enabled = true;
    apply_network_url(url, config);
  } else {
    invalid("unsupported URL scheme '" + std::string(scheme) +
            "' (valkey, redis, valkeys, rediss or unix, or one of the first four with +cluster)");
  }
  return config;
}

ClientConfig ClientConfig::from_env() {
  return from_env([](const char* name) { return std::getenv(name); });
}

ClientConfig ClientConfig::from_env(const std::function<const char*(const char*)>& getenv) {
  auto value = [&](const char* name) -> std::string_view {
    const char* v = getenv(name);
    return v == nullptr ? std::string_view{} : std::string_view(v);
  };
  ClientConfig config;
  if (auto url = value("VALKEY_URL"); !url.empty()) {
    try {
      config = from_url(url);
    } catch (const Error& e) {
      invalid("VALKEY_URL: " + e.detail());
    }
  } else {
    config.host = value("VALKEY_HOST").empty() ? "localhost" : std::string(value("VALKEY_HOST"));
    config.port =
        value("VALKEY_PORT").empty() ? 6380 : parse_port(value("VALKEY_PORT"), "VALKEY_PORT");
  }
  if (auto user = value("VALKEY_USERNAME"); !user.empty()) config.username = user;
  if (auto password = value("VALKEY_PASSWORD"); !password.empty()) config.password = password;
  if (auto db = value("VALKEY_DB"); !db.empty()) config.database = parse_database(db, "VALKEY_DB");
  if (auto cluster = value("VALKEY_CLUSTER"); !cluster.empty()) {
    bool on = false;
    if (!parse_flag(cluster, on)) {
      invalid("VALKEY_CLUSTER must be 1 or 0 (true, false, yes, no), got '" + std::string(cluster) +
              "'");
    }
    config.cluster = config.cluster || on;
  }
  if (auto replicas = value("VALKEY_READ_FROM_REPLICAS"); !replicas.empty()) {
    if (!parse_flag(replicas, config.read_from_replicas)) {
      invalid("VALKEY_READ_FROM_REPLICAS must be 1 or 0 (true, false, yes, no), got '" +
              std::string(replicas) + "'");
    }
    // On one node it would send READONLY, which a server outside a cluster refuses: whoever
    // set it meant a cluster.
    if (config.read_from_replicas && !config.cluster) {
      invalid(
          "VALKEY_READ_FROM_REPLICAS=1 needs a cluster (VALKEY_CLUSTER=1 or a valkey+cluster:// "
          "URL)");
    }
  }
  return config;
}

std::optional<ClientConfig> ClientConfig::state_from_env() {
  return state_from_env([](const char* name) { return std::getenv(name); });
}

std::optional<ClientConfig> ClientConfig::state_from_env(
    const std::function<const char*(const char*)>& getenv) {
  auto value = [&](const char* name) -> std::string_view {
    const char* v = getenv(name);
    return v == nullptr ? std::string_view{} : std::string_view(v);
  };
  const std::string_view url = value("VALKEY_STATE_URL");
  if (url.empty()) return std::nullopt;
  ClientConfig config;
  try {
    config = from_url(url);
  } catch (const Error& e) {
    invalid("VALKEY_STATE_URL: " + e.detail());
  }
  auto pick = [&](std::string& field, const char* own, const char* shared) {
    if (auto v = value(own); !v.empty()) {
      field = v;
    } else if (field.empty()) {
      field = value(shared);
    }
  };
  pick(config.username, "VALKEY_STATE_USERNAME", "VALKEY_USERNAME");
  pick(config.password, "VALKEY_STATE_PASSWORD", "VALKEY_PASSWORD");
  config.client_name = "opencode-cache-state";
  return config;
}

std::string ClientConfig::endpoint() const {
  if (!unix_path.empty()) return unix_path;
  const bool ipv6 = host.find(':') != std::string::npos;
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

}  // namespace opencode_cache::valkey
