// One upstream exchange that any number of client requests are attached to: the first
// identical request starts it, later ones join it (single flight), each receiving the bytes
// already read and then the live ones. The upstream read goes on while someone is attached,
// and is aborted when the last one leaves before the end.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "server/http/error_response.hpp"
#include "server/http/exchange.hpp"
#include "server/upstream/upstream_client.hpp"

namespace opencode_cache::server::flow {

struct Flight {
  explicit Flight(boost::asio::any_io_executor executor)
      : signal(executor, boost::asio::steady_timer::time_point::max()) {}

  bool head_ready = false;
  int status = 0;
  http::Headers headers;  // the provider's, hop-by-hop fields removed
  std::string body;       // everything read so far
  bool done = false;      // the body is complete
  bool failed = false;    // the provider failed or the read was aborted
  int failure_status = 502;
  std::string failure_message;
  std::size_t attached = 0;
  bool abandoned = false;                  // everyone left before the end: the read was aborted
  upstream::Response* response = nullptr;  // while the body is being read

  bool event_stream() const;
  // Wakes every request waiting for news of this flight.
  void notify() { signal.cancel(); }
  upstream::Task<void> changed();
  void attach() { ++attached; }
  void detach();

 private:
  boost::asio::steady_timer signal;
};

// The flights of one thread by cache key.
class FlightTable {
 public:
  // A flight that can still be joined: not failed, not abandoned.
  std::shared_ptr<Flight> find(const std::string& key) const;
  void insert(const std::string& key, std::shared_ptr<Flight> flight);
  void erase(const std::string& key, const Flight* flight);

 private:
  std::map<std::string, std::shared_ptr<Flight>, std::less<>> flights_;
};

struct PumpTiming {
  std::function<void(std::chrono::nanoseconds)> first_byte;
  std::function<void(std::chrono::nanoseconds)> complete;
};

// Sends the request and reads the answer into the flight until it ends, fails, or nobody is
// attached any more.
upstream::Task<void> pump(std::shared_ptr<Flight> flight, upstream::Pool& pool, const BaseUrl& base,
                          upstream::Request request, PumpTiming timing);

// Answers one client from the flight. `extra` headers are added to the response (X-Cache...).
// A streaming client of an event-stream answer gets it forwarded as it arrives; everyone else
// gets the whole answer once it is complete. A failure after the body started resets the
// client's connection. The gateway's own errors (provider unreachable, 502/504) take `style`.
upstream::Task<void> follow(std::shared_ptr<Flight> flight, http::Responder& responder,
                            http::Headers extra, bool stream_to_client, http::ErrorStyle style);

}  // namespace opencode_cache::server::flow
