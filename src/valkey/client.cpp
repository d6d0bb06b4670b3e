#include "opencode_cache/valkey/client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <random>

#include "cancellation.hpp"
#include "cluster_client.hpp"
#include "command_table.hpp"
#include "connection.hpp"
#include "connection_supervisor.hpp"
#include "deadline_queue.hpp"
#include "handshake.hpp"
#include "multiplexer.hpp"
#include "opencode_cache/valkey/backoff.hpp"
#include "opencode_cache/valkey/circuit_breaker.hpp"
#include "opencode_cache/valkey/reply.hpp"
#include "race.hpp"
#include "supervised_loop.hpp"

namespace opencode_cache::valkey {
namespace asio = boost::asio;

namespace {

constexpr auto no_throw = asio::as_tuple(asio::use_awaitable);

bool is_noscript(const resp::Value& reply) {
  return reply.is_error() && std::string_view(reply.string).starts_with("NOSCRIPT");
}

bool info_says_loading(std::string_view info) {
  return info.find("loading:1") != std::string_view::npos;
}

// Error replies that say "not here, not now" about the server rather than the command: a
// demoted primary (READONLY), a server loading its dataset (LOADING), a replica whose primary
// is gone (MASTERDOWN). The connection is reset, and what is safe to send again is.
bool is_role_refusal(const resp::Value& reply) {
  if (!reply.is_error()) return false;
  const std::string_view text = reply.string;
  return text.starts_with("READONLY") || text.starts_with("LOADING") ||
         text.starts_with("MASTERDOWN");
}

}  // namespace

struct Client::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::any_io_executor ex, ClientConfig cfg)
      : executor(std::move(ex)),
        config(std::move(cfg)),
        mux(config.max_queued_requests, config.max_in_flight_requests),
        connection(executor, config.parser_limits),
        write_signal(executor),
        backoff_timer(executor),
        health_timer(executor),
        deadline_timer(executor),
        supervisor_(detail::supervisor_policy(config)),
        breaker(config.breaker) {
    spare_timers.reserve(PooledTimer::kept_at_most);
    breaker.on_transition([this](CircuitBreaker::State, CircuitBreaker::State to) {
      ++stats.breaker_transitions;
      log("event=breaker_" + std::string(to_string(to)));
    });
  }

  asio::any_io_executor executor;
  ClientConfig config;
  Multiplexer mux;
  Connection connection;
  asio::steady_timer write_signal;   // the writer sleeps on it; cancel() wakes it
  asio::steady_timer backoff_timer;  // the pause between reconnect attempts
  asio::steady_timer health_timer;
  // One timer for every waiting command's deadline, armed at the earliest (deadline_queue.hpp).
  DeadlineQueue deadlines;
  asio::steady_timer deadline_timer;
  asio::steady_timer::time_point deadline_timer_at = asio::steady_timer::time_point::max();
  detail::ConnectionSupervisor supervisor_;
  CircuitBreaker breaker;
  CircuitBreaker::Clock::time_point last_counted_timeout{};  // see record_outcome
  std::minstd_rand random{std::random_device{}()};
  ConnectionState state = ConnectionState::idle;
  bool loop_running = false;
  bool quitting = false;
  bool writing = false;  // a write is under way on the socket
  std::error_code last_error;
  std::string last_error_detail;
  std::function<void(resp::Value&&)> push_handler;
  ClientStats stats;

  void log(const std::string& line) const {
    if (config.log) config.log("valkey " + line + " endpoint=" + config.endpoint());
  }

  void start_loop() {
    if (loop_running || state == ConnectionState::closed) return;
    loop_running = true;
    asio::co_spawn(executor, run_loop(shared_from_this()), asio::detached);
  }

  void wake_writer() { write_signal.cancel(); }

  void close() {
    if (state == ConnectionState::closed) return;
    state = ConnectionState::closed;
    mux.fail_all(make_error_code(errc::closed), "the client was closed");
    connection.close();
    write_signal.cancel();
    backoff_timer.cancel();
    health_timer.cancel();
    deadline_timer.cancel();
  }

  static asio::awaitable<void> run_loop(std::shared_ptr<Impl> self) {
    try {
      co_await detail::run_supervised(*self);
    } catch (const std::exception& e) {
      self->log(std::string("event=loop_failed error=\"") + e.what() + "\"");
    }
    self->loop_running = false;
  }

  // What detail::run_supervised asks of its node.
  detail::ConnectionSupervisor& supervisor() { return supervisor_; }
  asio::steady_timer& pause_timer() { return backoff_timer; }
  void on_dead_connection() { ++stats.health_check_resets; }
  double jitter() { return std::uniform_real_distribution<double>(0, 1)(random); }
  bool closed() const { return state == ConnectionState::closed; }
  bool awaiting_reply() const { return mux.in_flight() > 0; }
  std::uint64_t bytes_received() const { return connection.bytes_received(); }

  // Connects, says hello and waits for the dataset to be loaded, within connect_timeout
  // (the loading wait excepted: a big dataset takes as long as it takes).
  asio::awaitable<void> establish() {
    state = stats.connects == 0 ? ConnectionState::connecting : ConnectionState::reconnecting;
    auto attempt = [this]() -> asio::awaitable<void> {
      co_await connection.connect(config);
      co_await detail::run_handshake(connection, config);
    };
    if (!co_await detail::finishes_within(attempt(), config.connect_timeout)) {
      throw Error(errc::timeout, "no answer to the handshake within " +
                                     std::to_string(config.connect_timeout.count()) + " ms");
    }
    if (config.ready_check) co_await wait_until_loaded();
  }

  // Each INFO round trip within connect_timeout: a server may load for as long as it takes,
  // but one that hangs in the middle of answering is not waited for.
  asio::awaitable<void> wait_until_loaded() {
    asio::steady_timer pause(executor);
    while (true) {
      std::optional<resp::Value> reply;
      auto ask = [&]() -> asio::awaitable<void> {
        co_await connection.write(Command("INFO", "persistence").encoded());
        reply = co_await connection.read_reply();
      };
      if (!co_await detail::finishes_within(ask(), config.connect_timeout)) {
        throw Error(errc::timeout, "no answer to the ready check (INFO) within " +
                                       std::to_string(config.connect_timeout.count()) + " ms");
      }
      if (!reply->is_error() && !info_says_loading(reply->string)) co_return;
      if (reply->is_error() && ServerError(reply->string).prefix() != "LOADING") {
        throw Error(errc::server_error, "INFO failed on connect: " + reply->string);
      }
      log("event=server_loading");
      pause.expires_after(std::chrono::milliseconds(100));
      co_await pause.async_wait(no_throw);
      if (state == ConnectionState::closed) throw Error(errc::closed, "the client was closed");
    }
  }

  void on_connected() {
    last_error.clear();
    state = ConnectionState::ready;
    ++stats.connects;
    log("event=connected");
  }

  void on_connect_failed(const Error& e, detail::ConnectionSupervisor::Step next) {
    connection.close();
    ++stats.connect_failures;
    breaker.record_failure(CircuitBreaker::Clock::now());
    last_error = e.code();
    last_error_detail = e.detail();
    if (e.code() == errc::protocol_error) ++stats.protocol_errors;
    const auto attempt = supervisor_.failed_attempts();
    if (detail::is_configuration_failure(e.code())) {
      // Retrying cannot fix credentials or certificates: fail what waits now, not at its
      // deadline.
      mux.fail_queued(e.code(), e.detail());
    } else {
      mux.on_connect_failed(make_error_code(errc::not_connected), e.detail());
    }
    if (next.action == detail::ConnectionSupervisor::Action::give_up) {
      give_up(attempt - 1, e.detail());
      return;
    }
    log("event=reconnecting attempt=" + std::to_string(attempt) +
        " delay_ms=" + std::to_string(next.delay.count()) + " error=\"" + e.detail() + "\"");
  }

  void give_up(std::uint32_t attempts, const std::string& why) {
    log("event=gave_up attempts=" + std::to_string(attempts) + " error=\"" + why + "\"");
    mux.fail_queued(make_error_code(errc::not_connected),
                    "gave up after " + std::to_string(attempts) + " reconnect attempts: " + why);
    state = ConnectionState::idle;
  }

  void on_connection_lost(detail::ConnectionSupervisor::Step next) {
    if (quitting) {
      close();
      return;
    }
    ++stats.disconnects;
    breaker.record_failure(CircuitBreaker::Clock::now());
    log("event=disconnected error=\"" + last_error_detail + "\"");
    state = ConnectionState::reconnecting;
    mux.on_connection_lost(last_error_detail);
    if (next.action == detail::ConnectionSupervisor::Action::wait) {
      // Dropped right after it was made: backed off like a refused attempt.
      last_error = make_error_code(errc::io_error);
      mux.on_connect_failed(make_error_code(errc::not_connected), last_error_detail);
      log("event=reconnecting attempt=" + std::to_string(supervisor_.failed_attempts()) +
          " delay_ms=" + std::to_string(next.delay.count()) +
          " error=\"dropped soon after connecting: " + last_error_detail + "\"");
    } else if (next.action == detail::ConnectionSupervisor::Action::give_up) {
      give_up(supervisor_.failed_attempts() - 1, last_error_detail);
    }
  }

  // Runs the connection until it fails; records why.
  asio::awaitable<void> serve() {
    try {
      co_await detail::run_connection(*this, read_loop(), write_loop(), health_timer);
    } catch (const Error& e) {
      last_error = e.code();
      last_error_detail = e.detail();
      if (e.code() == errc::protocol_error) ++stats.protocol_errors;
    } catch (const std::exception& e) {
      last_error = make_error_code(errc::io_error);
      last_error_detail = e.what();
    }
    connection.close();
  }

  asio::awaitable<void> read_loop() {
    std::vector<resp::Value> replies;
    while (true) {
      replies.clear();
      co_await connection.read_replies(replies);
      supervisor_.on_bytes_read(detail::ConnectionSupervisor::Clock::now());
      bool reset = false;
      for (resp::Value& reply : replies) reset = dispatch(std::move(reply)) || reset;
      if (reset) {
        throw Error(errc::io_error, "the server refused commands for its role (" +
                                        last_role_refusal + "); reconnecting");
      }
      if (mux.can_write() && !writing) wake_writer();
    }
  }

  std::string last_role_refusal;

  // True when the reply says the connection must be reset (see is_role_refusal).
  bool dispatch(resp::Value&& reply) {
    if (reply.type == resp::Type::push) {
      deliver_push(std::move(reply));
      return false;
    }
    if (is_role_refusal(reply)) {
      last_role_refusal = reply.string.substr(0, reply.string.find(' '));
      if (!mux.on_role_refusal(std::move(reply))) {
        throw Error(errc::protocol_error, "a reply arrived with no command waiting for it");
      }
      return true;
    }
    if (!mux.on_reply(std::move(reply))) {
      throw Error(errc::protocol_error, "a reply arrived with no command waiting for it");
    }
    return false;
  }

  // A throwing handler is the handler's bug, not the connection's: counted, logged, contained.
  void deliver_push(resp::Value&& reply) {
    if (!push_handler) return;
    try {
      push_handler(std::move(reply));
    } catch (const std::exception& e) {
      report_push_handler_error(e.what());
    } catch (...) {
      report_push_handler_error("an exception that is not a std::exception");
    }
  }

  void report_push_handler_error(const std::string& what) {
    const std::uint64_t count = ++stats.push_handler_errors;
    // The 1st, 2nd, 4th, 8th... failure is logged: a handler failing on every push would
    // flood the log.
    if ((count & (count - 1)) == 0) {
      log("event=push_handler_failed push_handler_errors=" + std::to_string(count) + " error=\"" +
          what + "\"");
    }
  }

  void send_health_ping() {
    auto ping = std::make_shared<Request>();
    Command("PING").encode_to(ping->payload);
    if (!mux.enqueue(std::move(ping))) return;  // full queue: commands will show liveness
    if (!writing) wake_writer();
  }

  asio::awaitable<void> write_loop() {
    while (true) {
      while (!mux.can_write() || writing) {
        write_signal.expires_at(asio::steady_timer::time_point::max());
        co_await write_signal.async_wait(no_throw);
        auto cancelled = (co_await asio::this_coro::cancellation_state).cancelled();
        if (cancelled != asio::cancellation_type::none) co_return;
      }
      co_await write_queued();
    }
  }

  // One write at a time on the socket.
  asio::awaitable<void> write_queued() {
    writing = true;
    ++stats.writes;
    if (mux.in_flight() == 0)
      supervisor_.on_first_in_flight(detail::ConnectionSupervisor::Clock::now());
    try {
      co_await connection.write(mux.prepare_write());
    } catch (...) {
      writing = false;
      throw;
    }
    writing = false;
  }

  // Commands that fail without being queued: closed client, refused credentials, open breaker.
  std::optional<Error> refuse_at_once(const RequestOptions& options) {
    if (state == ConnectionState::closed) return Error(errc::closed, "the client was closed");
    // While the last attempt was refused for its credentials or certificates, fail at once.
    if (state != ConnectionState::ready && detail::is_configuration_failure(last_error)) {
      return Error(last_error, last_error_detail);
    }
    if (!options.wait_for_connection && state != ConnectionState::ready && last_error) {
      start_loop();
      return Error(errc::not_connected,
                   "no connection to " + config.endpoint() + ": " + last_error_detail);
    }
    if (!breaker.allow(CircuitBreaker::Clock::now())) {
      ++stats.breaker_rejections;
      start_loop();
      return Error(errc::circuit_open, "Valkey at " + config.endpoint() +
                                           " failed repeatedly; retrying after the cool-down");
    }
    return std::nullopt;
  }

  // What the breaker counts as a failure of a command: only its deadline passing. A lost
  // connection or a failed connect is counted once by the connection loop instead, whatever
  // the number of commands it touched: one dropped connection must not open the breaker.
  // Answers (error replies included) are successes; everything else (cancelled, refused before
  // sending, lost with its connection, closed) says nothing about the server and is neutral.
  // Commands in flight together that pass their deadlines together are one failure, not one
  // each: under a burst, 64 rate-limit decisions with a 100 ms deadline could otherwise open the
  // breaker at once and turn every cache hit into a call upstream. A timeout counts only for a
  // command sent after the last one counted.
  void record_outcome(std::error_code code, CircuitBreaker::Clock::time_point sent_at) {
    const auto now = CircuitBreaker::Clock::now();
    if (!code) {
      breaker.record_success(now);
    } else if (code == errc::timeout && sent_at > last_counted_timeout) {
      last_counted_timeout = now;
      breaker.record_failure(now);
    } else {
      breaker.record_neutral();
    }
  }

  asio::awaitable<std::vector<resp::Value>> submit(std::shared_ptr<Request> request,
                                                   const RequestOptions& options) {
    if (auto refusal = refuse_at_once(options)) {
      // Complete through the executor, never inline: a caller retrying in a loop must not
      // starve every other coroutine on this thread while Valkey is away.
      detail::throw_if_cancelled(co_await asio::this_coro::cancellation_state);
      co_await asio::post(executor, asio::use_awaitable);
      throw *refusal;
    }
    // From here every outcome reaches the breaker, so that a half-open probe is never lost.
    // One coroutine from here to the reply: every frame costs an allocation per command.
    std::optional<Error> failure;
    const auto deadline_at = deadline_of(options);
    const auto sent_at = CircuitBreaker::Clock::now();
    try {
      enqueue(request, options);
      const AbandonUnlessDone abandon_unless_done{mux, *request};
      start_loop();
      // Never written from here, even on an idle connection: the writer runs after the
      // handlers already queued, so the commands this loop turn issues (a rate-limit script
      // and the cache read behind it) leave in one write and come back in one read, one
      // system call each way instead of one per command, here and in Valkey.
      if (state == ConnectionState::ready) wake_writer();
      if (!request->finished()) {
        const auto& cancellation = co_await asio::this_coro::cancellation_state;
        throw_if_caller_cancelled(cancellation);
        // Woken by the reply, by the deadline queue, or by the caller's cancellation.
        const PooledTimer wake(*this);
        request->on_done = [timer = &wake.timer()] { timer->cancel(); };
        watch_deadline(request, deadline_at);
        co_await wake.timer().async_wait(no_throw);
        request->on_done = nullptr;
        if (!request->finished()) {
          throw_if_caller_cancelled(cancellation);
          ++stats.timeouts;
          throw Error(errc::timeout, "no reply within the deadline of " + describe_budget(options));
        }
      }
      if (request->error) throw Error(request->error, request->error_detail);
      record_outcome({}, sent_at);
      co_return std::move(request->replies);
    } catch (const Error& e) {
      failure = e;
    }
    record_outcome(failure->code(), sent_at);
    // As above, never fail inline; but a cancelled caller gets its answer at once: it asked
    // to stop, and a further co_await would only throw Asio's operation_aborted.
    if (failure->code() != errc::cancelled) {
      const auto& state = co_await asio::this_coro::cancellation_state;
      if (detail::is_cancelled(state)) throw *failure;
      co_await asio::post(executor, asio::use_awaitable);
    }
    throw *failure;
  }

  void enqueue(const std::shared_ptr<Request>& request, const RequestOptions& options) {
    request->required_epoch = options.connection_epoch;
    request->reconnects_left = config.max_retries_per_request;
    request->refusals_left = config.max_retries_per_request;
    request->resends_left = request->resendable ? config.max_retries_per_request : 0;
    if (!mux.enqueue(request)) {
      throw Error(errc::queue_full, std::to_string(config.max_queued_requests) +
                                        " commands already wait for " + config.endpoint());
    }
  }

  void throw_if_caller_cancelled(const asio::cancellation_state& cancellation) {
    if (!detail::is_cancelled(cancellation)) return;
    ++stats.cancellations;
    throw detail::cancelled_error();
  }

  void watch_deadline(const std::shared_ptr<Request>& request, asio::steady_timer::time_point at) {
    deadlines.watch(request, at);
    if (at < deadline_timer_at) arm_deadline_timer(at);
  }

  void arm_deadline_timer(asio::steady_timer::time_point at) {
    deadline_timer_at = at;
    // Re-arming cancels the wait before: its handler sees operation_aborted and does nothing.
    deadline_timer.expires_at(at);
    deadline_timer.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      if (ec) return;
      if (auto self = weak.lock()) self->on_deadline_timer();
    });
  }

  // Wakes each expired caller, who finds its command unanswered and fails it with timeout.
  void on_deadline_timer() {
    deadline_timer_at = asio::steady_timer::time_point::max();
    for (const auto& request : deadlines.expired(asio::steady_timer::clock_type::now())) {
      if (request->on_done) request->on_done();
    }
    const auto next = deadlines.next_deadline();
    if (next != asio::steady_timer::time_point::max()) arm_deadline_timer(next);
  }

  // A waiting caller sleeps on a timer that never expires, woken by cancel(). The timers are
  // reused: making one looks its service up under a lock.
  std::vector<std::unique_ptr<asio::steady_timer>> spare_timers;

  class PooledTimer {
   public:
    explicit PooledTimer(Impl& owner) : owner_(owner) {
      if (owner.spare_timers.empty()) {
        timer_ = std::make_unique<asio::steady_timer>(owner.executor);
      } else {
        timer_ = std::move(owner.spare_timers.back());
        owner.spare_timers.pop_back();
      }
      timer_->expires_at(asio::steady_timer::time_point::max());
    }
    static constexpr std::size_t kept_at_most = 256;  // reserved: keeping one never allocates

    ~PooledTimer() {
      if (owner_.spare_timers.size() < kept_at_most) {
        owner_.spare_timers.push_back(std::move(timer_));
      }
    }
    PooledTimer(const PooledTimer&) = delete;
    PooledTimer& operator=(const PooledTimer&) = delete;
    asio::steady_timer& timer() const noexcept { return *timer_; }

   private:
    Impl& owner_;
    std::unique_ptr<asio::steady_timer> timer_;
  };

  void refuse_any_in(const Pipeline& pipeline) const {
    if (auto refusal = refusal_in_pipeline(pipeline.commands(), config.dedicated)) {
      throw Error(errc::unsupported_command, *refusal);
    }
  }

  // Inside MULTI ... EXEC every command is refused as on its own: no nested transaction.
  void refuse_any_in_transaction(const Pipeline& pipeline) const {
    for (const Command& command : pipeline.commands()) {
      if (auto refusal = refusal_on_shared_connection(command, config.dedicated)) {
        throw Error(errc::unsupported_command, *refusal);
      }
    }
  }

  asio::steady_timer::time_point deadline_of(const RequestOptions& options) const {
    if (options.deadline != asio::steady_timer::time_point{}) return options.deadline;
    const auto timeout = options.timeout.count() > 0 ? options.timeout : config.command_timeout;
    return asio::steady_timer::clock_type::now() + timeout;
  }

  // Whatever way the caller leaves (reply, deadline, cancellation, an exception), its request
  // is abandoned unless done: nothing is written for it later, its replies are discarded, and
  // no completion ever touches the caller's finished frame.
  struct AbandonUnlessDone {
    Multiplexer& mux;
    Request& request;
    ~AbandonUnlessDone() {
      if (!request.finished()) mux.abandon(request);
    }
  };

  std::string describe_budget(const RequestOptions& options) const {
    if (options.deadline != asio::steady_timer::time_point{}) return "the caller's budget";
    const auto timeout = options.timeout.count() > 0 ? options.timeout : config.command_timeout;
    return std::to_string(timeout.count()) + " ms";
  }
};

Client::Client(asio::any_io_executor executor, ClientConfig config)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(config))) {
  if (impl_->config.cluster) {
    cluster_ = std::make_shared<detail::ClusterClient>(impl_->executor, impl_->config);
    if (!impl_->config.lazy_connect) cluster_->request_refresh();
    return;
  }
  if (!impl_->config.lazy_connect) impl_->start_loop();
}

Client::~Client() {
  try {
    if (cluster_) cluster_->close();
    impl_->close();
  } catch (...) {
    // Failing the waiting commands allocates their error text; out of memory while
    // destroying, they still end when the loop's frames are destroyed.
  }
}

const ClientConfig& Client::config() const noexcept {
  return impl_->config;
}
ConnectionState Client::state() const noexcept {
  if (cluster_) return cluster_->state();
  return impl_->state;
}
ClientStats Client::stats() const noexcept {
  if (cluster_) return cluster_->stats();
  return impl_->stats;
}
CircuitBreaker::State Client::breaker_state() const noexcept {
  if (cluster_) return cluster_->breaker_state();
  return impl_->breaker.state();
}
asio::any_io_executor Client::get_executor() const noexcept {
  return impl_->executor;
}

void Client::on_push(std::function<void(resp::Value&&)> handler) {
  if (cluster_) cluster_->on_push(handler);
  impl_->push_handler = std::move(handler);
}

void Client::close() {
  if (cluster_) cluster_->close();
  impl_->close();
}

Task<void> Client::connect() {
  if (cluster_) {
    auto cluster = cluster_;
    co_await cluster->connect();
    co_return;
  }
  if (impl_->state == ConnectionState::ready) co_return;
  co_await command(Command("PING"));
}

Task<void> Client::quit() {
  auto impl = impl_;
  if (cluster_) {
    auto cluster = cluster_;
    co_await cluster->quit();
    impl->close();
    co_return;
  }
  if (impl->state == ConnectionState::closed) co_return;
  if (impl->state == ConnectionState::ready) {
    impl->quitting = true;
    try {
      auto request = std::make_shared<Request>();
      Command("QUIT").encode_to(request->payload);
      const RequestOptions options{.resend_after_disconnect = false};
      co_await impl->submit(std::move(request), options);
    } catch (const Error&) {
      // Closing anyway: a lost QUIT reply changes nothing for the caller.
    }
  }
  impl->close();
}

Task<resp::Value> Client::command(Command command, RequestOptions options) {
  auto impl = impl_;
  if (auto refusal = refusal_on_shared_connection(command, impl->config.dedicated)) {
    throw Error(errc::unsupported_command, *refusal);
  }
  if (cluster_) {
    auto cluster = cluster_;
    co_return co_await cluster->command(std::move(command), options);
  }
  auto request = std::make_shared<Request>();
  command.encode_to(request->payload);
  request->resendable =
      options.resend_after_disconnect.value_or(is_read_only_command(command.name()));
  std::vector<resp::Value> replies = co_await impl->submit(std::move(request), options);
  reply::throw_if_error(replies.front());
  co_return std::move(replies.front());
}

Task<std::vector<resp::Value>> Client::execute(const Pipeline& pipeline, RequestOptions options) {
  auto impl = impl_;
  if (pipeline.empty()) co_return std::vector<resp::Value>{};
  impl->refuse_any_in(pipeline);
  if (cluster_) {
    auto cluster = cluster_;
    co_return co_await cluster->execute(pipeline, options);
  }
  auto request = std::make_shared<Request>();
  bool read_only = true;
  for (const Command& command : pipeline.commands()) {
    command.encode_to(request->payload);
    read_only = read_only && is_read_only_command(command.name());
  }
  request->expected_replies = pipeline.size();
  request->resendable = options.resend_after_disconnect.value_or(read_only);
  // The NOSCRIPT fallbacks spend what is left of the pipeline's budget, not a new one.
  options.deadline = impl->deadline_of(options);
  std::vector<resp::Value> replies = co_await impl->submit(std::move(request), options);
  for (const Pipeline::ScriptCall& call : pipeline.script_calls()) {
    resp::Value& reply = replies.at(call.index);
    if (!is_noscript(reply)) continue;
    detail::throw_if_cancelled(co_await asio::this_coro::cancellation_state);
    try {
      reply = co_await command(call.script.eval(call.keys, call.args), options);
    } catch (const ServerError& e) {
      reply = resp::Value{.type = resp::Type::simple_error, .string = e.message()};
    }
  }
  co_return replies;
}

std::uint64_t Client::connection_epoch() const noexcept {
  if (cluster_) return 0;
  return impl_->mux.epoch();
}

Task<std::vector<resp::Value>> Client::transaction(const Pipeline& pipeline,
                                                   RequestOptions options) {
  auto impl = impl_;
  impl->refuse_any_in_transaction(pipeline);
  if (cluster_) {
    auto cluster = cluster_;
    co_return co_await cluster->transaction(pipeline, options);
  }
  auto request = std::make_shared<Request>();
  Command("MULTI").encode_to(request->payload);
  for (const Command& command : pipeline.commands()) command.encode_to(request->payload);
  Command("EXEC").encode_to(request->payload);
  request->expected_replies = pipeline.size() + 2;
  request->resendable = false;
  std::vector<resp::Value> replies = co_await impl->submit(std::move(request), options);
  resp::Value& exec = replies.back();
  reply::throw_if_error(replies.front());  // MULTI itself refused (nested MULTI, ACL)
  reply::throw_if_error(exec);             // EXECABORT: a command was refused when queued
  if (exec.is_null()) {
    throw Error(errc::transaction_aborted, "EXEC did not run: a watched key changed");
  }
  co_return std::move(exec.elements);
}

Task<resp::Value> Client::eval(const Script& script, const std::vector<std::string>& keys,
                               const std::vector<std::string>& args, RequestOptions options) {
  auto impl = impl_;
  if (cluster_) {
    auto cluster = cluster_;
    co_return co_await cluster->eval(script, keys, args, options);
  }
  // EVALSHA and its EVAL fallback share one budget.
  options.deadline = impl->deadline_of(options);
  resp::Value reply;
  bool unknown_script = false;
  try {
    reply = co_await command(script.evalsha(keys, args), options);
  } catch (const ServerError& e) {
    if (e.prefix() != "NOSCRIPT") throw;
    unknown_script = true;
  }
  if (unknown_script) {
    detail::throw_if_cancelled(co_await asio::this_coro::cancellation_state);
    reply = co_await command(script.eval(keys, args), options);
  }
  co_return reply;
}

Task<bool> Client::ping() {
  const resp::Value reply = co_await command(Command("PING"));
  co_return reply.is_string() && reply.string == "PONG";
}

Task<std::optional<std::string>> Client::get(std::string_view key) {
  co_return reply::to_optional_string(co_await command(Command("GET", key)));
}

Task<bool> Client::set(std::string_view key, std::string_view value, SetOptions options) {
  Command command("SET", key, value);
  if (options.ttl.count() > 0) {
    if (options.ttl.count() % 1000 == 0) {
      command.arg("EX").arg(options.ttl.count() / 1000);
    } else {
      command.arg("PX").arg(options.ttl.count());
    }
  }
  if (options.keep_ttl) command.arg("KEEPTTL");
  if (options.condition == SetOptions::Condition::if_not_exists) command.arg("NX");
  if (options.condition == SetOptions::Condition::if_exists) command.arg("XX");
  co_return reply::to_ok(co_await this->command(std::move(command)));
}

Task<std::int64_t> Client::del(std::string_view key) {
  co_return reply::to_integer(co_await command(Command("DEL", key)));
}

Task<std::int64_t> Client::del(const std::vector<std::string>& keys) {
  co_return reply::to_integer(co_await command(Command("DEL").args(keys)));
}

Task<bool> Client::exists(std::string_view key) {
  co_return reply::to_integer(co_await command(Command("EXISTS", key))) == 1;
}

Task<std::int64_t> Client::exists(const std::vector<std::string>& keys) {
  co_return reply::to_integer(co_await command(Command("EXISTS").args(keys)));
}

Task<bool> Client::expire(std::string_view key, std::chrono::seconds ttl) {
  co_return reply::to_integer(co_await command(Command("EXPIRE", key, ttl.count()))) == 1;
}

Task<bool> Client::pexpire(std::string_view key, std::chrono::milliseconds ttl) {
  co_return reply::to_integer(co_await command(Command("PEXPIRE", key, ttl.count()))) == 1;
}

Task<std::int64_t> Client::ttl(std::string_view key) {
  co_return reply::to_integer(co_await command(Command("TTL", key)));
}

Task<std::vector<std::optional<std::string>>> Client::mget(const std::vector<std::string>& keys) {
  if (keys.empty()) co_return std::vector<std::optional<std::string>>{};
  co_return reply::to_optional_strings(co_await command(Command("MGET").args(keys)));
}

Task<void> Client::mset(const std::vector<std::pair<std::string, std::string>>& pairs) {
  if (pairs.empty()) co_return;
  Command command("MSET");
  for (const auto& [key, value] : pairs) command.arg(key).arg(value);
  reply::to_ok(co_await this->command(std::move(command)));
}

Task<std::int64_t> Client::incr(std::string_view key) {
  co_return reply::to_integer(co_await command(Command("INCR", key)));
}

Task<std::int64_t> Client::incrby(std::string_view key, std::int64_t increment) {
  co_return reply::to_integer(co_await command(Command("INCRBY", key, increment)));
}

Task<std::int64_t> Client::hset(std::string_view key, std::string_view field,
                                std::string_view value) {
  co_return reply::to_integer(co_await command(Command("HSET", key, field, value)));
}

Task<std::int64_t> Client::hset(std::string_view key,
                                const std::vector<std::pair<std::string, std::string>>& fields) {
  Command command("HSET", key);
  for (const auto& [field, value] : fields) command.arg(field).arg(value);
  co_return reply::to_integer(co_await this->command(std::move(command)));
}

Task<std::optional<std::string>> Client::hget(std::string_view key, std::string_view field) {
  co_return reply::to_optional_string(co_await command(Command("HGET", key, field)));
}

Task<std::vector<std::pair<std::string, std::string>>> Client::hgetall(std::string_view key) {
  co_return reply::to_string_pairs(co_await command(Command("HGETALL", key)));
}

Task<std::int64_t> Client::hdel(std::string_view key, const std::vector<std::string>& fields) {
  co_return reply::to_integer(co_await command(Command("HDEL", key).args(fields)));
}

Task<std::int64_t> Client::zadd(std::string_view key, double score, std::string_view member) {
  co_return reply::to_integer(co_await command(Command("ZADD", key, score, member)));
}

Task<std::int64_t> Client::zremrangebyscore(std::string_view key, std::string_view min,
                                            std::string_view max) {
  co_return reply::to_integer(co_await command(Command("ZREMRANGEBYSCORE", key, min, max)));
}

Task<std::int64_t> Client::zcard(std::string_view key) {
  co_return reply::to_integer(co_await command(Command("ZCARD", key)));
}

Task<std::int64_t> Client::publish(std::string_view channel, std::string_view message) {
  co_return reply::to_integer(co_await command(Command("PUBLISH", channel, message)));
}

// SPUBLISH's channel routes like a key on a cluster (cluster_routing).
Task<std::int64_t> Client::spublish(std::string_view channel, std::string_view message) {
  co_return reply::to_integer(co_await command(Command("SPUBLISH", channel, message)));
}

}  // namespace opencode_cache::valkey
