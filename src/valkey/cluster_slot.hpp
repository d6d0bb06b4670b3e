// Internal: the hash slot of a key in Valkey Cluster: CRC16 (XMODEM) of the key, or of its
// hash tag (the text between the first '{' and the next '}', when not empty), modulo 16384.
// Pure functions, as the cluster specification defines them.
#pragma once

#include <cstdint>
#include <string_view>

namespace opencode_cache::valkey::detail {

inline constexpr int cluster_slots = 16384;

std::uint16_t crc16(std::string_view bytes) noexcept;
// The part of the key that is hashed: its hash tag if it has one, else the whole key.
std::string_view hash_tag(std::string_view key) noexcept;
int key_slot(std::string_view key) noexcept;

}  // namespace opencode_cache::valkey::detail
