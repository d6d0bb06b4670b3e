#include "cluster_topology.hpp"

#include <charconv>

namespace opencode_cache::valkey::detail {
namespace {

using resp::Type;
using resp::Value;

bool is_list(const Value& value) {
  return value.type == Type::array || value.type == Type::set;
}

// CLUSTER SHARDS answers maps in RESP3 and flat key, value arrays in RESP2: both are
// key, value, key, value... in `elements`.
const Value* field(const Value& map, std::string_view name) {
  if (map.type != Type::map && map.type != Type::array) return nullptr;
  for (std::size_t i = 0; i + 1 < map.elements.size(); i += 2) {
    if (map.elements[i].is_string() && map.elements[i].string == name) return &map.elements[i + 1];
  }
  return nullptr;
}

std::string text_of(const Value* value) {
  return value != nullptr && value->is_string() ? value->string : std::string();
}

std::optional<std::uint16_t> port_of(const Value* value) {
  if (value == nullptr || value->type != Type::integer) return std::nullopt;
  if (value->integer <= 0 || value->integer > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value->integer);
}

std::string usable_host(std::string host, std::string_view fallback) {
  if (host.empty() || host == "?") return std::string(fallback);
  return host;
}

bool assign_range(Topology& topology, std::int64_t first, std::int64_t last, std::size_t shard) {
  if (first < 0 || last >= cluster_slots || first > last) return false;
  for (auto slot = first; slot <= last; ++slot) {
    topology.slot_shard[static_cast<std::size_t>(slot)] = static_cast<std::int16_t>(shard);
  }
  return true;
}

std::optional<NodeAddress> shard_node(const Value& node, std::string_view fallback_host) {
  std::string host = text_of(field(node, "endpoint"));
  if (host.empty() || host == "?") host = text_of(field(node, "ip"));
  auto port = port_of(field(node, "port"));
  if (!port) port = port_of(field(node, "tls-port"));
  if (!port) return std::nullopt;
  return NodeAddress{usable_host(std::move(host), fallback_host), *port};
}

}  // namespace

bool Topology::covers_every_slot() const noexcept {
  for (const auto shard : slot_shard) {
    if (shard < 0) return false;
  }
  return true;
}

std::optional<Topology> parse_cluster_shards(const Value& reply, std::string_view fallback_host) {
  if (!is_list(reply)) return std::nullopt;
  Topology topology;
  for (const Value& entry : reply.elements) {
    const Value* slots = field(entry, "slots");
    const Value* nodes = field(entry, "nodes");
    if (slots == nullptr || nodes == nullptr || !is_list(*slots) || !is_list(*nodes)) {
      return std::nullopt;
    }
    if (slots->elements.empty()) continue;  // a shard serving nothing takes no traffic
    Shard shard;
    bool has_primary = false;
    bool primary_online = false;
    for (const Value& node : nodes->elements) {
      auto address = shard_node(node, fallback_host);
      if (!address) return std::nullopt;
      const std::string role = text_of(field(node, "role"));
      const std::string health = text_of(field(node, "health"));
      // Mid-failover a shard may list its failed primary beside the promoted one: the
      // healthy one wins.
      if (role == "master" && (!has_primary || (!primary_online && health == "online"))) {
        shard.primary = std::move(*address);
        has_primary = true;
        primary_online = health == "online";
      } else if (role != "master" && health == "online") {
        shard.replicas.push_back(std::move(*address));
      }
    }
    if (!has_primary) continue;  // mid-failover: nobody to write to yet; a later refresh tells
    const std::size_t index = topology.shards.size();
    for (std::size_t i = 0; i + 1 < slots->elements.size(); i += 2) {
      const Value& first = slots->elements[i];
      const Value& last = slots->elements[i + 1];
      if (first.type != Type::integer || last.type != Type::integer) return std::nullopt;
      if (!assign_range(topology, first.integer, last.integer, index)) return std::nullopt;
    }
    topology.shards.push_back(std::move(shard));
  }
  return topology;
}

std::optional<Topology> parse_cluster_slots(const Value& reply, std::string_view fallback_host) {
  if (!is_list(reply)) return std::nullopt;
  Topology topology;
  for (const Value& range : reply.elements) {
    if (range.type != Type::array || range.elements.size() < 3) return std::nullopt;
    const Value& first = range.elements[0];
    const Value& last = range.elements[1];
    if (first.type != Type::integer || last.type != Type::integer) return std::nullopt;
    std::vector<NodeAddress> nodes;
    for (std::size_t i = 2; i < range.elements.size(); ++i) {
      const Value& node = range.elements[i];
      if (node.type != Type::array || node.elements.size() < 2) return std::nullopt;
      auto port = port_of(&node.elements[1]);
      if (!port) return std::nullopt;
      nodes.push_back({usable_host(text_of(&node.elements[0]), fallback_host), *port});
    }
    // Ranges of one primary come apart in CLUSTER SLOTS: they share its shard.
    std::size_t index = topology.shards.size();
    for (std::size_t s = 0; s < topology.shards.size(); ++s) {
      if (topology.shards[s].primary == nodes.front()) index = s;
    }
    if (index == topology.shards.size()) {
      Shard shard;
      shard.primary = nodes.front();
      shard.replicas.assign(nodes.begin() + 1, nodes.end());
      topology.shards.push_back(std::move(shard));
    }
    if (!assign_range(topology, first.integer, last.integer, index)) return std::nullopt;
  }
  return topology;
}

std::optional<Redirection> parse_redirection(std::string_view error,
                                             std::string_view fallback_host) {
  Redirection redirection{};
  if (error.starts_with("MOVED ")) {
    redirection.kind = Redirection::Kind::moved;
    error.remove_prefix(6);
  } else if (error.starts_with("ASK ")) {
    redirection.kind = Redirection::Kind::ask;
    error.remove_prefix(4);
  } else {
    return std::nullopt;
  }
  const auto space = error.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  const std::string_view slot = error.substr(0, space);
  std::string_view address = error.substr(space + 1);
  address = address.substr(0, address.find(' '));
  const auto colon = address.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  const std::string_view port = address.substr(colon + 1);
  unsigned port_number = 0;
  auto [p1, e1] = std::from_chars(slot.data(), slot.data() + slot.size(), redirection.slot);
  auto [p2, e2] = std::from_chars(port.data(), port.data() + port.size(), port_number);
  if (e1 != std::errc{} || e2 != std::errc{} || redirection.slot < 0 ||
      redirection.slot >= cluster_slots || port_number == 0 || port_number > 65535) {
    return std::nullopt;
  }
  redirection.target = {usable_host(std::string(address.substr(0, colon)), fallback_host),
                        static_cast<std::uint16_t>(port_number)};
  return redirection;
}

}  // namespace opencode_cache::valkey::detail
