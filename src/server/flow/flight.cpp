#include "server/flow/flight.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "server/http/error_response.hpp"

namespace opencode_cache::server::flow {
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

bool Flight::event_stream() const {
  const std::string* type = http::find_header(headers, "content-type");
  return type != nullptr && type->find("text/event-stream") != std::string::npos;
}

upstream::Task<void> Flight::changed() {
  co_await signal.async_wait(asio::as_tuple(asio::use_awaitable));
}

void Flight::detach() {
  if (--attached == 0 && !done && !failed && response != nullptr) {
    abandoned = true;
    response->abort();
  }
}

std::shared_ptr<Flight> FlightTable::find(const std::string& key) const {
  const auto it = flights_.find(key);
  if (it == flights_.end() || it->second->failed || it->second->abandoned) return nullptr;
  return it->second;
}

void FlightTable::insert(const std::string& key, std::shared_ptr<Flight> flight) {
  flights_[key] = std::move(flight);
}

void FlightTable::erase(const std::string& key, const Flight* flight) {
  const auto it = flights_.find(key);
  if (it != flights_.end() && it->second.get() == flight) flights_.erase(it);
}

upstream::Task<void> pump(std::shared_ptr<Flight> flight, upstream::Pool& pool, const BaseUrl& base,
                          upstream::Request request, PumpTiming timing) {
  const auto start = Clock::now();
  try {
    auto response = co_await pool.send(base, request);
    if (timing.first_byte) timing.first_byte(Clock::now() - start);
    flight->status = response->status;
    flight->headers = response->headers;
    flight->head_ready = true;
    flight->response = response.get();
    flight->notify();
    while (auto bytes = co_await response->next()) {
      flight->body += *bytes;
      flight->notify();
    }
    flight->done = true;
  } catch (const upstream::UpstreamError& e) {
    flight->failed = true;
    flight->failure_status = e.status();
    flight->failure_message = e.what();
  }
  flight->response = nullptr;
  if (timing.complete) timing.complete(Clock::now() - start);
  flight->notify();
}

namespace {

http::Headers with(http::Headers headers, const http::Headers& extra) {
  headers.insert(headers.end(), extra.begin(), extra.end());
  return headers;
}

upstream::Task<void> send_failure(const Flight& flight, http::Responder& responder,
                                  const http::Headers& extra, http::ErrorStyle style) {
  http::Headers headers = extra;
  headers.emplace_back("content-type", "application/json");
  co_await responder.send(flight.failure_status, std::move(headers),
                          http::error_body_for(style, flight.failure_status,
                                               flight.failure_status == 504
                                                   ? "the upstream provider did not answer in time"
                                                   : "the upstream provider could not be reached"));
}

}  // namespace

upstream::Task<void> follow(std::shared_ptr<Flight> flight, http::Responder& responder,
                            http::Headers extra, bool stream_to_client, http::ErrorStyle style) {
  flight->attach();
  struct Detach {
    Flight& flight;
    ~Detach() { flight.detach(); }
  } detach{*flight};

  while (!flight->head_ready && !flight->failed) co_await flight->changed();
  if (!flight->head_ready) {
    co_await send_failure(*flight, responder, extra, style);
    co_return;
  }
  if (!stream_to_client || !flight->event_stream()) {
    while (!flight->done && !flight->failed) co_await flight->changed();
    if (flight->failed) {
      co_await send_failure(*flight, responder, extra, style);
      co_return;
    }
    co_await responder.send(flight->status, with(flight->headers, extra), flight->body);
    co_return;
  }
  co_await responder.begin(flight->status, with(flight->headers, extra));
  std::size_t sent = 0;
  for (;;) {
    if (sent < flight->body.size()) {
      // A copy: the body grows (and may move) while this write waits.
      const std::string piece = flight->body.substr(sent);
      sent += piece.size();
      co_await responder.write(piece);
    } else if (flight->done) {
      co_await responder.end();
      co_return;
    } else if (flight->failed) {
      responder.reset();
      co_return;
    } else {
      co_await flight->changed();
    }
  }
}

}  // namespace opencode_cache::server::flow
