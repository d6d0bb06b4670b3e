#include "server/support/fake_upstream.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <mutex>
#include <thread>

namespace opencode_cache::testing {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using asio::ip::tcp;
using Task = asio::awaitable<void>;

namespace {

constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

std::string event(const std::string& json) {
  return "data: " + json + "\n\n";
}

std::string chunk_json(const std::string& id, const std::string& model, const std::string& delta,
                       const std::string& finish = "null") {
  return R"({"id":")" + id +
         R"(","object":"chat.completion.chunk","created":1700000000,"model":")" + model +
         R"(","choices":[{"index":0,"delta":)" + delta + R"(,"finish_reason":)" + finish + "}]}";
}

std::string prompt_of(const boost::json::value& body) {
  const auto* object = body.if_object();
  if (object == nullptr) return "";
  const auto* messages = object->if_contains("messages");
  if (messages == nullptr || !messages->is_array() || messages->as_array().empty()) return "";
  const auto& last = messages->as_array().back();
  const auto* content = last.is_object() ? last.as_object().if_contains("content") : nullptr;
  std::string text =
      content != nullptr && content->is_string() ? std::string(content->as_string()) : "";
  if (const auto* t = object->if_contains("temperature"))
    text += " t=" + boost::json::serialize(*t);
  return text;
}

}  // namespace

struct FakeUpstream::Impl {
  asio::io_context io{1};
  tcp::acceptor acceptor{io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  std::thread thread;
  std::atomic<std::uint64_t> calls{0};
  std::atomic<bool> released{false};
  mutable std::mutex mutex;
  std::vector<std::string> authorizations;

  Task accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(tuple_awaitable);
      if (ec) co_return;
      asio::co_spawn(io, serve(std::move(socket)), asio::detached);
    }
  }

  Task serve(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    for (;;) {
      bhttp::request<bhttp::string_body> request;
      auto [ec, n] = co_await bhttp::async_read(stream, buffer, request, tuple_awaitable);
      if (ec) co_return;
      const std::uint64_t call = ++calls;
      {
        std::lock_guard lock(mutex);
        authorizations.emplace_back(request[bhttp::field::authorization]);
      }
      const bool keep_going = co_await answer(stream, request, call);
      if (!keep_going || !request.keep_alive()) co_return;
    }
  }

  Task wait_for_release() {
    asio::steady_timer timer(io);
    while (!released) {
      timer.expires_after(std::chrono::milliseconds(1));
      co_await timer.async_wait(tuple_awaitable);
    }
  }

  // False when the connection must not be reused.
  asio::awaitable<bool> answer(beast::tcp_stream& stream,
                               bhttp::request<bhttp::string_body>& request, std::uint64_t call) {
    boost::system::error_code parse_error;
    const auto body = boost::json::parse(request.body(), parse_error);
    const auto* object = parse_error ? nullptr : body.if_object();
    std::string model;
    if (object != nullptr && object->contains("model") && object->at("model").is_string()) {
      model = std::string(object->at("model").as_string());
    }
    const bool stream_wanted = object != nullptr && object->contains("stream") &&
                               object->at("stream").is_bool() && object->at("stream").as_bool();
    const std::string target(request.target());

    if (model == "stall") {
      asio::steady_timer timer(io, std::chrono::seconds(30));
      co_await timer.async_wait(tuple_awaitable);
      co_return false;
    }
    if (model == "fail-500" || model == "fail-429") {
      const int status = model == "fail-500" ? 500 : 429;
      bhttp::response<bhttp::string_body> response(static_cast<bhttp::status>(status), 11);
      response.set(bhttp::field::content_type, "application/json");
      response.body() =
          R"({"error":{"message":"fake failure","type":"server_error","code":"fake"}})";
      response.prepare_payload();
      co_await bhttp::async_write(stream, response, tuple_awaitable);
      co_return true;
    }
    const std::string text = "answer " + std::to_string(call) + " to " + prompt_of(body);
    if (target.ends_with("/models")) {
      bhttp::response<bhttp::string_body> response(bhttp::status::ok, 11);
      response.set(bhttp::field::content_type, "application/json");
      response.body() = R"({"object":"list","data":[{"id":"m)" + std::to_string(call) +
                        R"(","object":"model"}]})";
      response.prepare_payload();
      co_await bhttp::async_write(stream, response, tuple_awaitable);
      co_return true;
    }
    if (!stream_wanted) {
      if (model == "hold") co_await wait_for_release();
      bhttp::response<bhttp::string_body> response(bhttp::status::ok, 11);
      response.set(bhttp::field::content_type, "application/json");
      response.body() = target.ends_with("/embeddings")
                            ? R"({"object":"list","data":[{"embedding":[0.)" +
                                  std::to_string(call) +
                                  R"(],"index":0}],"usage":{"prompt_tokens":3,"total_tokens":3}})"
                            : json_answer(model, text);
      response.prepare_payload();
      co_await bhttp::async_write(stream, response, tuple_awaitable);
      co_return true;
    }
    bhttp::response<bhttp::empty_body> head(bhttp::status::ok, 11);
    head.set(bhttp::field::content_type, "text/event-stream");
    head.chunked(true);
    bhttp::response_serializer<bhttp::empty_body> serializer(head);
    auto [head_error, head_bytes] =
        co_await bhttp::async_write_header(stream, serializer, tuple_awaitable);
    if (head_error) co_return false;
    const auto events = model == "long-200" ? std::vector<std::string>{long_stream(200)}
                                            : stream_events(model, text);
    for (std::size_t i = 0; i < events.size(); ++i) {
      if (model == "abort" && i == 2) {
        stream.socket().close();
        co_return false;
      }
      if (model == "hold" && i == 1) co_await wait_for_release();
      auto [ec, n] = co_await asio::async_write(stream, bhttp::make_chunk(asio::buffer(events[i])),
                                                tuple_awaitable);
      if (ec) co_return false;
    }
    auto [end_error, end_bytes] =
        co_await asio::async_write(stream, bhttp::make_chunk_last(), tuple_awaitable);
    co_return !end_error;
  }
};

FakeUpstream::FakeUpstream() : impl_(std::make_unique<Impl>()) {
  asio::co_spawn(impl_->io, impl_->accept_loop(), asio::detached);
  impl_->thread = std::thread([this] { impl_->io.run(); });
}

FakeUpstream::~FakeUpstream() {
  impl_->released = true;
  impl_->io.stop();
  impl_->thread.join();
}

std::uint16_t FakeUpstream::port() const {
  return impl_->acceptor.local_endpoint().port();
}
std::string FakeUpstream::base_url() const {
  return "http://127.0.0.1:" + std::to_string(port()) + "/v1";
}
std::uint64_t FakeUpstream::calls() const {
  return impl_->calls;
}
std::vector<std::string> FakeUpstream::authorizations() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->authorizations;
}
void FakeUpstream::release() {
  impl_->released = true;
}

std::vector<std::string> FakeUpstream::stream_events(const std::string& model,
                                                     const std::string& text) {
  const std::string id = "chatcmpl-fake";
  std::vector<std::string> events;
  events.push_back(event(chunk_json(id, model, R"({"role":"assistant","content":""})")));
  events.push_back(event(chunk_json(id, model, R"({"reasoning_content":"thinking about it"})")));
  events.push_back(event(chunk_json(id, model, R"({"content":")" + text + R"("})")));
  events.push_back(event(chunk_json(
      id, model,
      R"({"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"read","arguments":""}}]})")));
  events.push_back(event(chunk_json(
      id, model, R"({"tool_calls":[{"index":0,"function":{"arguments":"{\"path\":\"a\"}"}}]})")));
  events.push_back(event(chunk_json(id, model, "{}", R"("tool_calls")")));
  events.push_back(event(
      R"({"id":")" + id + R"(","object":"chat.completion.chunk","created":1700000000,"model":")" +
      model +
      R"(","choices":[],"usage":{"prompt_tokens":11,"completion_tokens":9,"total_tokens":20}})"));
  events.push_back("data: [DONE]\n\n");
  return events;
}

std::string FakeUpstream::json_answer(const std::string& model, const std::string& text) {
  return R"({"id":"chatcmpl-fake","object":"chat.completion","created":1700000000,"model":")" +
         model + R"(","choices":[{"index":0,"message":{"role":"assistant","content":")" + text +
         R"("},"finish_reason":"stop"}],"usage":{"prompt_tokens":11,"completion_tokens":9,"total_tokens":20}})";
}

std::string FakeUpstream::long_stream(int chunks) {
  std::string out = event(chunk_json("c", "m", R"({"role":"assistant","content":""})"));
  for (int i = 0; i < chunks; ++i)
    out += event(chunk_json("c", "m", R"({"content":"token )" + std::to_string(i) + R"( "})"));
  out += event(chunk_json("c", "m", "{}", R"("stop")"));
  out += "data: [DONE]\n\n";
  return out;
}

}  // namespace opencode_cache::testing
