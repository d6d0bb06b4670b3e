#include "opencode_cache/valkey/subscriber.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <deque>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "connection.hpp"
#include "connection_supervisor.hpp"
#include "handshake.hpp"
#include "race.hpp"
#include "subscription_set.hpp"
#include "supervised_loop.hpp"

namespace opencode_cache::valkey {
namespace asio = boost::asio;

namespace {

constexpr auto no_throw = asio::as_tuple(asio::use_awaitable);
using Clock = std::chrono::steady_clock;
using Kind = Subscription::Kind;

std::string describe(const Subscription& subscription) {
  return std::string(subscription.kind == Kind::channel ? "channel=" : "pattern=") +
         subscription.name;
}

// g++ 12 destroys a braced temporary in a co_await expression twice: name it in a plain
// function first.
Subscription channel_named(std::string name) {
  return {Kind::channel, std::move(name)};
}

Subscription pattern_named(std::string name) {
  return {Kind::pattern, std::move(name)};
}

// A handler failing on every message would flood the log: the 1st, 2nd, 4th, 8th... failure
// is logged, with the running count.
bool worth_logging(std::uint64_t count) {
  return (count & (count - 1)) == 0;
}

}  // namespace

struct Subscriber::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::any_io_executor ex, ClientConfig cfg, SubscriberOptions opts)
      : executor(std::move(ex)),
        config(std::move(cfg)),
        options(opts),
        connection(executor, config.parser_limits),
        supervisor_(detail::supervisor_policy(config)),
        write_signal(executor),
        backoff_timer(executor),
        health_timer(executor) {}

  asio::any_io_executor executor;
  ClientConfig config;
  SubscriberOptions options;
  Connection connection;
  SubscriptionSet set;
  detail::ConnectionSupervisor supervisor_;
  std::minstd_rand random{std::random_device{}()};
  asio::steady_timer write_signal;   // the writer sleeps on it; cancel() wakes it
  asio::steady_timer backoff_timer;  // the pause between reconnect attempts
  asio::steady_timer health_timer;
  // After a reconnect, the last command that restores the subscriptions.
  std::optional<std::uint64_t> restored_through;
  std::function<void()> on_resubscribed;
  std::string outbox;
  std::deque<Message> inbox;  // messages of handler-less subscriptions, for next()
  // Timers of callers waiting for a change; every change cancels them all and each caller
  // checks its own condition again (few callers ever wait at once).
  std::vector<asio::steady_timer*> waiters;
  ConnectionState state = ConnectionState::idle;
  bool loop_running = false;
  std::optional<Error> refusal;  // set while reconnecting cannot help: fails callers at once
  std::string last_error;
  SubscriberStats stats;

  void log(const std::string& line) const {
    if (config.log) config.log("valkey pubsub " + line + " endpoint=" + config.endpoint());
  }

  void wake_waiters() {
    for (asio::steady_timer* timer : waiters) timer->cancel();
  }

  // `bytes` came from the SubscriptionSet, which counted the command(s) as sent.
  void send(const std::string& bytes) {
    if (bytes.empty()) return;
    if (waiting_since_nothing()) {
      supervisor_.on_first_in_flight(detail::ConnectionSupervisor::Clock::now());
    }
    outbox += bytes;
    write_signal.cancel();
  }

  // Before this send, everything sent had been answered (the set already counts this one).
  bool waiting_since_nothing() const {
    return set.last_sent() > 0 && set.settled(set.last_sent() - 1);
  }

  void start_loop() {
    if (loop_running || state == ConnectionState::closed) return;
    loop_running = true;
    refusal.reset();  // a new loop after giving up tries again
    asio::co_spawn(executor, run_loop(shared_from_this()), asio::detached);
  }

  void close() {
    if (state == ConnectionState::closed) return;
    state = ConnectionState::closed;
    connection.close();
    write_signal.cancel();
    backoff_timer.cancel();
    health_timer.cancel();
    wake_waiters();
  }

  // Waits until `done()` holds; false when `deadline` came first. Throws Error(closed).
  asio::awaitable<bool> wait_for(const std::function<bool()>& done, Clock::time_point deadline) {
    asio::steady_timer timer(executor);
    waiters.push_back(&timer);
    struct Unregister {
      std::vector<asio::steady_timer*>& all;
      asio::steady_timer* mine;
      ~Unregister() { std::erase(all, mine); }
    } unregister{waiters, &timer};
    while (true) {
      if (state == ConnectionState::closed) throw Error(errc::closed, "the subscriber was closed");
      if (done()) co_return true;
      if (Clock::now() >= deadline) co_return false;
      timer.expires_at(deadline);
      co_await timer.async_wait(no_throw);
    }
  }

  Clock::time_point command_deadline() const { return Clock::now() + config.command_timeout; }

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
  double jitter() { return std::uniform_real_distribution<double>(0, 1)(random); }
  bool closed() const { return state == ConnectionState::closed; }
  bool awaiting_reply() const { return !set.settled(set.last_sent()); }
  std::uint64_t bytes_received() const { return connection.bytes_received(); }
  void on_dead_connection() { ++stats.health_check_resets; }
  void send_health_ping() { send(set.ping()); }

  // No ready check: SUBSCRIBE works while the server loads its dataset.
  asio::awaitable<void> establish() {
    state = stats.connects == 0 ? ConnectionState::connecting : ConnectionState::reconnecting;
    auto attempt = [this]() -> asio::awaitable<void> {
      co_await connection.connect(config);
      co_await handshake();
    };
    if (!co_await detail::finishes_within(attempt(), config.connect_timeout)) {
      throw Error(errc::timeout, "no answer to the handshake within " +
                                     std::to_string(config.connect_timeout.count()) + " ms");
    }
  }

  // Always RESP3 (pushes), no SELECT (channels belong to no database), and a name of its own
  // so that CLIENT LIST tells the subscriber from the command connection.
  asio::awaitable<void> handshake() {
    ClientConfig subscriber_config = config;
    subscriber_config.protocol = 3;
    subscriber_config.database = 0;
    if (!subscriber_config.client_name.empty()) subscriber_config.client_name += "-subscriber";
    co_await detail::run_handshake(connection, subscriber_config);
  }

  void on_connected() {
    refusal.reset();
    state = ConnectionState::ready;
    const bool reconnected = stats.connects > 0;
    ++stats.connects;
    log("event=connected subscriptions=" + std::to_string(set.size()));
    outbox.clear();
    send(set.on_connected());  // everything wanted, in one write
    if (reconnected) restored_through = set.last_sent();
    wake_waiters();
    tell_if_resubscribed();
  }

  // Messages published while disconnected are lost: once every restored subscription is
  // confirmed, the resubscribed handler lets users of invalidations flush what they hold.
  void tell_if_resubscribed() {
    if (!restored_through || !set.settled(*restored_through)) return;
    restored_through.reset();
    ++stats.resubscriptions;
    if (!on_resubscribed) return;
    try {
      on_resubscribed();
    } catch (const std::exception& e) {
      log(std::string("event=resubscribed_handler_failed error=\"") + e.what() + "\"");
    } catch (...) {
      log("event=resubscribed_handler_failed");
    }
  }

  void on_connect_failed(const Error& e, detail::ConnectionSupervisor::Step next) {
    connection.close();
    ++stats.connect_failures;
    // Retrying cannot fix credentials or certificates: fail waiting callers now rather than at
    // their deadline.
    if (detail::is_configuration_failure(e.code())) refusal = e;
    const auto attempt = supervisor_.failed_attempts();
    if (next.action == detail::ConnectionSupervisor::Action::give_up) {
      give_up(attempt - 1, e.detail());
      return;
    }
    wake_waiters();
    log("event=reconnecting attempt=" + std::to_string(attempt) +
        " delay_ms=" + std::to_string(next.delay.count()) + " error=\"" + e.detail() + "\"");
  }

  void give_up(std::uint32_t attempts, const std::string& why) {
    log("event=gave_up attempts=" + std::to_string(attempts) + " error=\"" + why + "\"");
    refusal = Error(errc::not_connected,
                    "gave up after " + std::to_string(attempts) + " reconnect attempts: " + why);
    state = ConnectionState::idle;
    wake_waiters();
  }

  void on_connection_lost(detail::ConnectionSupervisor::Step next) {
    ++stats.disconnects;
    state = ConnectionState::reconnecting;
    log("event=disconnected error=\"" + last_error + "\"");
    if (next.action == detail::ConnectionSupervisor::Action::give_up) {
      give_up(supervisor_.failed_attempts() - 1, last_error);
    }
  }

  asio::awaitable<void> serve() {
    try {
      co_await detail::run_connection(*this, read_loop(), write_loop(), health_timer);
    } catch (const std::exception& e) {
      last_error = e.what();
    }
    connection.close();
    set.on_disconnected();
    restored_through.reset();
    wake_waiters();  // pings in flight are lost, unsubscribes settled
  }

  asio::awaitable<void> read_loop() {
    std::vector<resp::Value> frames;
    while (true) {
      frames.clear();
      co_await connection.read_replies(frames);
      supervisor_.on_bytes_read(detail::ConnectionSupervisor::Clock::now());
      for (resp::Value& frame : frames) {
        if (state == ConnectionState::closed) co_return;
        handle(set.on_frame(std::move(frame)));
      }
    }
  }

  asio::awaitable<void> write_loop() {
    while (true) {
      while (outbox.empty()) {
        write_signal.expires_at(asio::steady_timer::time_point::max());
        co_await write_signal.async_wait(no_throw);
        auto cancelled = (co_await asio::this_coro::cancellation_state).cancelled();
        if (cancelled != asio::cancellation_type::none) co_return;
      }
      const std::string bytes = std::exchange(outbox, {});
      co_await connection.write(bytes);
    }
  }

  void handle(PubSubEvent&& event) {
    switch (event.type) {
      case PubSubEvent::Type::message: deliver(event); return;
      case PubSubEvent::Type::ignored: return;
      case PubSubEvent::Type::subscribed: ++stats.confirmations; break;
      case PubSubEvent::Type::refused:
        log("event=refused " + describe(event.subscription) + " error=\"" + event.error + "\"");
        break;
      case PubSubEvent::Type::unsubscribed:
      case PubSubEvent::Type::pong: break;
    }
    wake_waiters();
    tell_if_resubscribed();
  }

  void deliver(PubSubEvent& event) {
    if (*event.handler) {
      ++stats.messages;
      try {
        (*event.handler)(event.message);
      } catch (const std::exception& e) {
        report_handler_error(event.message, e.what());
      } catch (...) {
        report_handler_error(event.message, "an exception that is not a std::exception");
      }
      return;
    }
    if (inbox.size() >= options.max_buffered_messages) {
      if (worth_logging(++stats.dropped_messages)) {
        log("event=message_dropped reason=buffer_full dropped=" +
            std::to_string(stats.dropped_messages) + " channel=" + event.message.channel);
      }
      return;
    }
    ++stats.messages;
    inbox.push_back(std::move(event.message));
    wake_waiters();
  }

  void report_handler_error(const Message& message, const std::string& what) {
    if (!worth_logging(++stats.handler_errors)) return;
    log("event=handler_failed channel=" + message.channel +
        " handler_errors=" + std::to_string(stats.handler_errors) + " error=\"" + what + "\"");
  }

  asio::awaitable<void> subscribe(const Subscription& subscription, MessageHandler handler) {
    if (state == ConnectionState::closed) throw Error(errc::closed, "the subscriber was closed");
    send(set.subscribe(subscription, std::move(handler)));
    start_loop();
    co_await wait_for(
        [&] { return refusal || set.status(subscription) != SubscriptionStatus::pending; },
        command_deadline());
    const auto status = set.status(subscription);
    // Not wanted any more: an unsubscribe overtook this call.
    if (!status || status == SubscriptionStatus::subscribed) co_return;
    const std::string refused_with = set.refusal(subscription);
    send(set.unsubscribe(subscription));  // a subscribe that throws leaves nothing behind
    if (status == SubscriptionStatus::refused) throw ServerError(refused_with);
    if (refusal) throw *refusal;
    throw Error(errc::timeout, "the server did not confirm " + describe(subscription) + " within " +
                                   std::to_string(config.command_timeout.count()) + " ms");
  }

  asio::awaitable<void> unsubscribe(const Subscription& subscription) {
    const std::string bytes = set.unsubscribe(subscription);
    if (bytes.empty()) co_return;
    const std::uint64_t command = set.last_sent();
    send(bytes);
    if (!co_await wait_for([&] { return set.settled(command); }, command_deadline())) {
      throw Error(errc::timeout, "the server did not confirm dropping " + describe(subscription));
    }
  }

  asio::awaitable<void> ping() {
    start_loop();
    const auto deadline = command_deadline();
    co_await wait_for([&] { return refusal || state == ConnectionState::ready; }, deadline);
    if (state != ConnectionState::ready) {
      if (refusal) throw *refusal;
      throw Error(errc::timeout, "not connected within the command timeout");
    }
    const std::string bytes = set.ping();
    const std::uint64_t command = set.last_sent();
    send(bytes);
    if (!co_await wait_for([&] { return set.settled(command); }, deadline)) {
      throw Error(errc::timeout, "no PONG within the command timeout");
    }
    if (!set.answered(command)) {
      throw Error(errc::connection_lost, "the connection dropped before the PONG: " + last_error);
    }
  }

  asio::awaitable<Message> next() {
    co_await wait_for([&] { return !inbox.empty(); }, Clock::time_point::max());
    Message message = std::move(inbox.front());
    inbox.pop_front();
    co_return message;
  }
};

Subscriber::Subscriber(asio::any_io_executor executor, ClientConfig config,
                       SubscriberOptions options)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(config), options)) {
  if (!impl_->config.lazy_connect) impl_->start_loop();
}

Subscriber::~Subscriber() {
  try {
    impl_->close();
  } catch (...) {
    // As for Client: nothing may escape a destructor.
  }
}

const ClientConfig& Subscriber::config() const noexcept {
  return impl_->config;
}
ConnectionState Subscriber::state() const noexcept {
  return impl_->state;
}
SubscriberStats Subscriber::stats() const noexcept {
  return impl_->stats;
}

void Subscriber::close() {
  impl_->close();
}

void Subscriber::on_resubscribed(std::function<void()> handler) {
  impl_->on_resubscribed = std::move(handler);
}

// Each call holds the Impl: a Subscriber destroyed meanwhile leaves it valid until then.
Task<void> Subscriber::subscribe(std::string channel, MessageHandler handler) {
  auto impl = impl_;
  const Subscription subscription = channel_named(std::move(channel));
  co_await impl->subscribe(subscription, std::move(handler));
}

Task<void> Subscriber::psubscribe(std::string pattern, MessageHandler handler) {
  auto impl = impl_;
  const Subscription subscription = pattern_named(std::move(pattern));
  co_await impl->subscribe(subscription, std::move(handler));
}

Task<void> Subscriber::unsubscribe(std::string channel) {
  auto impl = impl_;
  const Subscription subscription = channel_named(std::move(channel));
  co_await impl->unsubscribe(subscription);
}

Task<void> Subscriber::punsubscribe(std::string pattern) {
  auto impl = impl_;
  const Subscription subscription = pattern_named(std::move(pattern));
  co_await impl->unsubscribe(subscription);
}

Task<Message> Subscriber::next() {
  auto impl = impl_;
  co_return co_await impl->next();
}

Task<void> Subscriber::ping() {
  auto impl = impl_;
  co_await impl->ping();
}

}  // namespace opencode_cache::valkey
