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
  // Responses: "input" is the prompt, or a list of messages.
  const auto* input = object->if_contains("input");
  if (input != nullptr && input->is_string()) return std::string(input->as_string());
  const auto* messages = input != nullptr ? input : object->if_contains("messages");
  if (messages == nullptr || !messages->is_array() || messages->as_array().empty()) return "";
  const auto& last = messages->as_array().back();
  const auto* content = last.is_object() ? last.as_object().if_contains("content") : nullptr;
  std::string text =
      content != nullptr && content->is_string() ? std::string(content->as_string()) : "";
  if (const auto* t = object->if_contains("temperature"))
    text += " t=" + boost::json::serialize(*t);
  return text;
}

namespace json = boost::json;

enum class Api { chat_completions, responses, messages };

Api api_of(const std::string& target) {
  if (target.ends_with("/responses")) return Api::responses;
  if (target.ends_with("/messages")) return Api::messages;
  return Api::chat_completions;
}

json::object parsed(std::string_view text) {
  return json::parse(text).as_object();
}

// An event of the Responses or Messages API: `event: <type>` and the payload, its type first.
class TypedEvents {
 public:
  explicit TypedEvents(bool numbered) : numbered_(numbered) {}

  void add(const std::string& type, json::object fields = {}) {
    json::object payload;
    payload["type"] = type;
    if (numbered_) payload["sequence_number"] = sequence_++;
    for (auto& member : fields) payload[member.key()] = member.value();
    events_.push_back("event: " + type + "\ndata: " + json::serialize(payload) + "\n\n");
  }
  void raw(std::string event) { events_.push_back(std::move(event)); }
  std::vector<std::string> take() { return std::move(events_); }

 private:
  bool numbered_;
  int sequence_ = 0;
  std::vector<std::string> events_;
};

const char* const encrypted_reasoning = "gAAAAB+enc/rypted==";
const char* const thinking_signature = "EqQBCgIYAhIM+sig/nature==";

json::object reasoning_item() {
  json::object item = parsed(
      R"({"id":"rs_1","type":"reasoning","summary":[{"type":"summary_text","text":"thinking about it"}]})");
  item["encrypted_content"] = encrypted_reasoning;
  return item;
}

json::object message_item(const std::string& text) {
  json::object item =
      parsed(R"({"id":"msg_1","type":"message","status":"completed","role":"assistant"})");
  json::object part = parsed(R"({"type":"output_text","annotations":[]})");
  part["text"] = text;
  item["content"] = json::array({part});
  return item;
}

json::object call_item() {
  return parsed(
      R"({"id":"fc_1","type":"function_call","status":"completed","arguments":"{\"path\":\"a\"}","call_id":"call_1","name":"read"})");
}

json::object response_object(const std::string& model, const std::string& text,
                             const std::string& status) {
  json::object response =
      parsed(R"({"id":"resp_fake","object":"response","created_at":1700000000})");
  response["status"] = status;
  response["model"] = model;
  response["output"] = json::array({reasoning_item(), message_item(text), call_item()});
  if (status == "failed") {
    response["error"] = parsed(R"({"code":"server_error","message":"fake failure"})");
  }
  if (status == "incomplete") {
    response["incomplete_details"] = parsed(R"({"reason":"max_output_tokens"})");
  }
  response["usage"] = parsed(
      R"({"input_tokens":11,"input_tokens_details":{"cached_tokens":0},"output_tokens":9,"output_tokens_details":{"reasoning_tokens":4},"total_tokens":20})");
  return response;
}

std::string response_status(const std::string& model) {
  return model == "failed" || model == "incomplete" ? model : "completed";
}

json::object at_output(int index, json::object fields = {}) {
  fields["output_index"] = index;
  return fields;
}

json::object on_item(const char* id, int index, json::object fields = {}) {
  json::object out;
  out["item_id"] = id;
  out["output_index"] = index;
  for (auto& member : fields) out[member.key()] = member.value();
  return out;
}

json::object messages_usage(int output_tokens) {
  json::object usage =
      parsed(R"({"input_tokens":6,"cache_creation_input_tokens":2,"cache_read_input_tokens":3})");
  usage["output_tokens"] = output_tokens;
  return usage;
}

json::object block_delta(int index, json::object delta) {
  json::object fields;
  fields["index"] = index;
  fields["delta"] = std::move(delta);
  return fields;
}

json::object block_at(int index, json::object block) {
  json::object fields;
  fields["index"] = index;
  fields["content_block"] = std::move(block);
  return fields;
}

json::object index_only(int index) {
  json::object fields;
  fields["index"] = index;
  return fields;
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
  std::vector<std::map<std::string, std::string>> headers;

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
        std::map<std::string, std::string> fields;
        for (const auto& field : request) {
          std::string name(field.name_string());
          for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          fields[name] = std::string(field.value());
        }
        headers.push_back(std::move(fields));
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
    const Api api = api_of(target);

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
          api == Api::messages
              ? R"({"type":"error","error":{"type":"api_error","message":"fake failure"}})"
              : R"({"error":{"message":"fake failure","type":"server_error","code":"fake"}})";
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
                        : api == Api::responses ? responses_json(model, text)
                        : api == Api::messages  ? messages_json(model, text)
                                                : json_answer(model, text);
      response.prepare_payload();
      co_await bhttp::async_write(stream, response, tuple_awaitable);
      co_return true;
    }
    if (model == "hold-head") co_await wait_for_release();
    bhttp::response<bhttp::empty_body> head(bhttp::status::ok, 11);
    head.set(bhttp::field::content_type, "text/event-stream");
    head.chunked(true);
    bhttp::response_serializer<bhttp::empty_body> serializer(head);
    auto [head_error, head_bytes] =
        co_await bhttp::async_write_header(stream, serializer, tuple_awaitable);
    if (head_error) co_return false;
    const auto events = model == "long-200"     ? std::vector<std::string>{long_stream(200)}
                        : api == Api::responses ? responses_events(model, text)
                        : api == Api::messages  ? messages_events(model, text)
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
void FakeUpstream::hold_again() {
  impl_->released = false;
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

std::vector<std::map<std::string, std::string>> FakeUpstream::request_headers() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->headers;
}

std::vector<std::string> FakeUpstream::responses_events(const std::string& model,
                                                        const std::string& text) {
  TypedEvents events(true);
  json::object started = response_object(model, text, "in_progress");
  started["output"] = json::array();
  started["usage"] = nullptr;
  json::object with_response;
  with_response["response"] = started;
  events.add("response.created", with_response);
  events.add("response.in_progress", with_response);

  json::object reasoning = reasoning_item();
  reasoning["summary"] = json::array();
  events.add("response.output_item.added", at_output(0, {{"item", reasoning}}));
  const json::value empty_summary = parsed(R"({"type":"summary_text","text":""})");
  events.add("response.reasoning_summary_part.added",
             on_item("rs_1", 0, {{"summary_index", 0}, {"part", empty_summary}}));
  events.add("response.reasoning_summary_text.delta",
             on_item("rs_1", 0, {{"summary_index", 0}, {"delta", "thinking "}}));
  events.add("response.reasoning_summary_text.delta",
             on_item("rs_1", 0, {{"summary_index", 0}, {"delta", "about it"}}));
  events.add("response.reasoning_summary_text.done",
             on_item("rs_1", 0, {{"summary_index", 0}, {"text", "thinking about it"}}));
  events.add("response.reasoning_summary_part.done",
             on_item("rs_1", 0,
                     {{"summary_index", 0}, {"part", reasoning_item()["summary"].as_array()[0]}}));
  events.add("response.output_item.done", at_output(0, {{"item", reasoning_item()}}));
  if (model == "fail-stream") {
    events.add("error", parsed(R"({"code":"server_error","message":"fake failure","param":null})"));
    return events.take();
  }

  json::object message = message_item(text);
  message["status"] = "in_progress";
  message["content"] = json::array();
  events.add("response.output_item.added", at_output(1, {{"item", message}}));
  const json::value empty_part = parsed(R"({"type":"output_text","text":"","annotations":[]})");
  events.add("response.content_part.added",
             on_item("msg_1", 1, {{"content_index", 0}, {"part", empty_part}}));
  events.add(
      "response.output_text.delta",
      on_item("msg_1", 1, {{"content_index", 0}, {"delta", text}, {"logprobs", json::array()}}));
  events.add(
      "response.output_text.done",
      on_item("msg_1", 1, {{"content_index", 0}, {"text", text}, {"logprobs", json::array()}}));
  events.add(
      "response.content_part.done",
      on_item("msg_1", 1,
              {{"content_index", 0}, {"part", message_item(text)["content"].as_array()[0]}}));
  events.add("response.output_item.done", at_output(1, {{"item", message_item(text)}}));

  json::object call = call_item();
  call["status"] = "in_progress";
  call["arguments"] = "";
  events.add("response.output_item.added", at_output(2, {{"item", call}}));
  events.add("response.function_call_arguments.delta",
             on_item("fc_1", 2, {{"delta", "{\"path\":"}}));
  events.add("response.function_call_arguments.delta", on_item("fc_1", 2, {{"delta", "\"a\"}"}}));
  events.add("response.function_call_arguments.done",
             on_item("fc_1", 2, {{"arguments", "{\"path\":\"a\"}"}}));
  events.add("response.output_item.done", at_output(2, {{"item", call_item()}}));

  if (model == "no-terminal") return events.take();
  const std::string status = response_status(model);
  json::object finished;
  finished["response"] = response_object(model, text, status);
  events.add(status == "completed" ? "response.completed" : "response." + status, finished);
  return events.take();
}

std::string FakeUpstream::responses_json(const std::string& model, const std::string& text) {
  return json::serialize(response_object(model, text, response_status(model)));
}

std::vector<std::string> FakeUpstream::messages_events(const std::string& model,
                                                       const std::string& text) {
  TypedEvents events(false);
  json::object message = parsed(R"({"id":"msg_fake","type":"message","role":"assistant"})");
  message["model"] = model;
  message["content"] = json::array();
  message["stop_reason"] = nullptr;
  message["stop_sequence"] = nullptr;
  message["usage"] = messages_usage(1);
  events.add("message_start", {{"message", message}});
  events.raw("event: ping\ndata: {\"type\": \"ping\"}\n\n");

  events.add("content_block_start",
             block_at(0, parsed(R"({"type":"thinking","thinking":"","signature":""})")));
  events.add("content_block_delta",
             block_delta(0, parsed(R"({"type":"thinking_delta","thinking":"thinking about it"})")));
  json::object signature = parsed(R"({"type":"signature_delta"})");
  signature["signature"] = thinking_signature;
  events.add("content_block_delta", block_delta(0, signature));
  events.add("content_block_stop", index_only(0));
  if (model == "fail-stream") {
    events.raw(
        "event: error\ndata: "
        R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})"
        "\n\n");
    return events.take();
  }

  events.add("content_block_start", block_at(1, parsed(R"({"type":"text","text":""})")));
  json::object text_delta = parsed(R"({"type":"text_delta"})");
  text_delta["text"] = text;
  events.add("content_block_delta", block_delta(1, text_delta));
  events.add("content_block_stop", index_only(1));

  events.add("content_block_start",
             block_at(2, parsed(R"({"type":"tool_use","id":"toolu_1","name":"read","input":{}})")));
  events.add("content_block_delta",
             block_delta(2, parsed(R"({"type":"input_json_delta","partial_json":"{\"path\":"})")));
  events.add("content_block_delta",
             block_delta(2, parsed(R"({"type":"input_json_delta","partial_json":"\"a\"}"})")));
  events.add("content_block_stop", index_only(2));

  json::object finish;
  finish["delta"] = parsed(R"({"stop_reason":"tool_use","stop_sequence":null})");
  finish["usage"] = parsed(R"({"output_tokens":9})");
  events.add("message_delta", finish);
  if (model != "no-terminal") events.add("message_stop");
  return events.take();
}

std::string FakeUpstream::messages_json(const std::string& model, const std::string& text) {
  json::object message = parsed(R"({"id":"msg_fake","type":"message","role":"assistant"})");
  message["model"] = model;
  json::object thinking = parsed(R"({"type":"thinking","thinking":"thinking about it"})");
  thinking["signature"] = thinking_signature;
  json::object answer = parsed(R"({"type":"text"})");
  answer["text"] = text;
  message["content"] = json::array(
      {thinking, answer,
       parsed(R"({"type":"tool_use","id":"toolu_1","name":"read","input":{"path":"a"}})")});
  message["stop_reason"] = "tool_use";
  message["stop_sequence"] = nullptr;
  message["usage"] = messages_usage(9);
  return json::serialize(message);
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
