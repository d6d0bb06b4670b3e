#include "opencode_cache/valkey/client_config.hpp"

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

std::string host_of(const boost::urls::url_view& url) {
  switch (url.host_type()) {
    case boost::urls::host_type::ipv6: return url.host_ipv6_address().to_string();
    case boost::urls::host_type::ipv4: return url.host_ipv4_address().to_string();
    default: return url.host();
  }
}

void apply_database_query(const boost::urls::url_view& url, ClientConfig& config) {
  for (auto param : url.params()) {
    if (param.key == "db") config.database = parse_database(param.value, "URL db parameter");
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
  apply_database_query(url, config);
}

}  // namespace

ClientConfig ClientConfig::from_url(std::string_view text) {
  auto parsed = boost::urls::parse_uri(text);
  if (!parsed) invalid("not a URL: " + parsed.error().message());
  const boost::urls::url_view url = *parsed;
  ClientConfig config;
  const std::string_view scheme = url.scheme();
  if (scheme == "unix") {
    config.unix_path = url.path();
    if (config.unix_path.empty()) invalid("unix URL has no socket path");
    apply_database_query(url, config);
  } else if (scheme == "valkey" || scheme == "redis") {
    apply_network_url(url, config);
  } else if (scheme == "valkeys" || scheme == "rediss") {
    config.tls = true;
    apply_network_url(url, config);
  } else {
    invalid("unsupported URL scheme '" + std::string(scheme) +
            "' (valkey, redis, valkeys, rediss or unix)");
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
      invalid(std::string("VALKEY_URL: ") + e.what());
    }
  } else {
    config.host = value("VALKEY_HOST").empty() ? "localhost" : std::string(value("VALKEY_HOST"));
    config.port =
        value("VALKEY_PORT").empty() ? 6380 : parse_port(value("VALKEY_PORT"), "VALKEY_PORT");
  }
  if (auto user = value("VALKEY_USERNAME"); !user.empty()) config.username = user;
  if (auto password = value("VALKEY_PASSWORD"); !password.empty()) config.password = password;
  if (auto db = value("VALKEY_DB"); !db.empty()) config.database = parse_database(db, "VALKEY_DB");
  return config;
}

std::string ClientConfig::endpoint() const {
  if (!unix_path.empty()) return unix_path;
  const bool ipv6 = host.find(':') != std::string::npos;
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

}  // namespace opencode_cache::valkey
