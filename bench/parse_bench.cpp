// RESP parsing throughput beside hiredis's reader, on the same reply stream in the same run.
//
// The stream mixes what a cache sees: GET replies of 2 KB JSON documents, MGETs of ten of them,
// integers, +OK and nulls. Both sides get it in 16 KiB chunks, as a socket delivers it, and
// both build a reply object per reply and free it: resp::Value for us (what the client
// returns), redisReply for hiredis.
//
// parse_mb_s is that stream. With 2 KB values much of the work is copying payloads, so a
// second figure, parse_small_values_mb_s, runs the same mix with ~128 byte values, where the
// cost per reply dominates.
#include <hiredis/hiredis.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "bench_report.hpp"
#include "opencode_cache/valkey/resp_parser.hpp"

namespace {

namespace resp = opencode_cache::valkey::resp;
namespace bench = opencode_cache::bench;

constexpr std::size_t stream_bytes = 64 * 1024 * 1024;
constexpr std::size_t chunk_bytes = 16 * 1024;
constexpr int runs = 7;

// A fixed sequence, so that every run and every machine parses the same stream.
class Lcg {
 public:
  std::uint32_t next() {
    state_ = state_ * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<std::uint32_t>(state_ >> 33);
  }
  std::uint32_t below(std::uint32_t bound) { return next() % bound; }

 private:
  std::uint64_t state_ = 42;
};

std::string json_document(Lcg& random, std::size_t size) {
  std::string json = "{\"id\":" + std::to_string(random.next()) + ",\"name\":\"user-" +
                     std::to_string(random.below(100000)) +
                     "\",\"email\":\"someone@example.com\",\"active\":true,\"tags\":[\"a\",\"b\"]"
                     ",\"bio\":\"";
  static constexpr std::string_view words = "lorem ipsum dolor sit amet consectetur adipiscing ";
  while (json.size() + 2 < size) json += words[random.below(words.size())];
  return json + "\"}";
}

void append_bulk(std::string& out, std::string_view value) {
  out += '$' + std::to_string(value.size()) + "\r\n";
  out += value;
  out += "\r\n";
}

struct Stream {
  std::string bytes;
  std::size_t replies = 0;
};

Stream build_stream(std::size_t value_size) {
  Lcg random;
  const auto value_spread = static_cast<std::uint32_t>(value_size / 4);
  const auto document = [&] {
    return json_document(random, value_size - value_spread / 2 + random.below(value_spread));
  };
  Stream stream;
  stream.bytes.reserve(stream_bytes + 64 * 1024);
  while (stream.bytes.size() < stream_bytes) {
    const std::uint32_t kind = random.below(100);
    if (kind < 55) {  // GET hit
      append_bulk(stream.bytes, document());
    } else if (kind < 65) {  // GET miss
      stream.bytes += "$-1\r\n";
    } else if (kind < 80) {  // INCR, EXPIRE, DEL...
      stream.bytes += ':' + std::to_string(random.below(1000000)) + "\r\n";
    } else if (kind < 92) {  // SET
      stream.bytes += "+OK\r\n";
    } else {  // MGET of ten keys, a few of them missing
      stream.bytes += "*10\r\n";
      for (int i = 0; i < 10; ++i) {
        if (random.below(10) == 0) {
          stream.bytes += "$-1\r\n";
        } else {
          append_bulk(stream.bytes, document());
        }
      }
    }
    ++stream.replies;
  }
  return stream;
}

// What a caller does with a reply: look at it. Keeps the work from being optimized away.
struct Tally {
  std::size_t replies = 0;
  std::size_t payload = 0;
};

void parse_ours(std::string_view stream, Tally& tally) {
  resp::Parser parser;
  resp::ValueBuilder builder;
  std::string buffer;
  for (std::size_t at = 0; at < stream.size(); at += chunk_bytes) {
    buffer.append(stream.substr(at, chunk_bytes));
    std::size_t offset = 0;
    while (true) {
      const auto result = parser.next(std::string_view(buffer).substr(offset));
      if (result.status == resp::Parser::Status::need_more) break;
      if (result.status == resp::Parser::Status::error) {
        std::cerr << "parse error: " << parser.error() << '\n';
        std::exit(1);
      }
      builder.add(result.node);
      offset += result.consumed;
      if (parser.reply_complete()) {
        const resp::Value value = builder.take();
        ++tally.replies;
        tally.payload += value.string.size() + value.elements.size();
      }
    }
    buffer.erase(0, offset);
  }
}

void parse_hiredis(std::string_view stream, Tally& tally) {
  redisReader* reader = redisReaderCreate();
  for (std::size_t at = 0; at < stream.size(); at += chunk_bytes) {
    const std::string_view chunk = stream.substr(at, chunk_bytes);
    redisReaderFeed(reader, chunk.data(), chunk.size());
    void* reply = nullptr;
    while (true) {
      if (redisReaderGetReply(reader, &reply) != REDIS_OK) {
        std::cerr << "hiredis parse error: " << reader->errstr << '\n';
        std::exit(1);
      }
      if (reply == nullptr) break;
      const auto* r = static_cast<const redisReply*>(reply);
      ++tally.replies;
      tally.payload += r->len + r->elements;
      freeReplyObject(reply);
    }
  }
  redisReaderFree(reader);
}

template <class Parse>
double megabytes_per_second(const Stream& stream, Parse parse) {
  Tally tally;
  const auto start = std::chrono::steady_clock::now();
  parse(stream.bytes, tally);
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  if (tally.replies != stream.replies) {
    std::cerr << "parsed " << tally.replies << " replies of " << stream.replies << '\n';
    std::exit(1);
  }
  return static_cast<double>(stream.bytes.size()) / 1e6 / elapsed.count();
}

struct Throughput {
  double ours = 0;
  double hiredis = 0;
};

Throughput median_throughput(std::size_t value_size) {
  const Stream stream = build_stream(value_size);
  std::vector<double> ours;
  std::vector<double> hiredis;
  // Interleaved, so that a noisy neighbour on the machine slows both sides alike.
  for (int run = 0; run < runs; ++run) {
    ours.push_back(megabytes_per_second(stream, parse_ours));
    hiredis.push_back(megabytes_per_second(stream, parse_hiredis));
  }
  return {bench::median(ours), bench::median(hiredis)};
}

}  // namespace

int main(int argc, char** argv) {
  bench::Report report(bench::has_flag(argc, argv, "--json"));
  const Throughput documents = median_throughput(2048);
  report.add("parse_mb_s", documents.ours, "MB/s", "hiredis_reader_mb_s", documents.hiredis);
  const Throughput small = median_throughput(128);
  report.add("parse_small_values_mb_s", small.ours, "MB/s", "hiredis_reader_small_values_mb_s",
             small.hiredis);
  report.print(std::cout);
  return 0;
}
