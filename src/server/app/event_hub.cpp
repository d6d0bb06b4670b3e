#include "server/app/event_hub.hpp"

#include <iterator>

namespace opencode_cache::server::app {

std::string sse_frame(const Event& event) {
  std::string frame;
  frame.reserve(event.data.size() + event.type.size() + event.id.size() + 24);
  if (!event.id.empty()) frame.append("id: ").append(event.id).append("\n");
  frame.append("event: ").append(event.type).append("\n");
  // Serialized JSON holds no raw line break, so one data line carries it whole.
  frame.append("data: ").append(event.data).append("\n\n");
  return frame;
}

EventHub::EventHub(std::size_t max_clients, std::size_t max_queued)
    : max_clients_(max_clients), max_queued_(max_queued) {}

std::optional<EventHub::ClientId> EventHub::join(std::function<void()> wake) {
  if (closed_ || clients_.size() >= max_clients_) return std::nullopt;
  const ClientId id = next_id_++;
  clients_.emplace(id, Client{std::move(wake), {}, false});
  return id;
}

void EventHub::leave(ClientId client) {
  clients_.erase(client);
}

EventHub::Pending EventHub::take(ClientId client) {
  Pending pending;
  pending.closed = closed_;
  const auto it = clients_.find(client);
  if (it == clients_.end()) return pending;
  Client& state = it->second;
  pending.resync = state.resync;
  pending.events.assign(std::make_move_iterator(state.queue.begin()),
                        std::make_move_iterator(state.queue.end()));
  state.queue.clear();
  state.resync = false;
  return pending;
}

void EventHub::deliver(const Event& event) {
  for (auto& [id, client] : clients_) {
    if (client.queue.size() >= max_queued_) {
      client.queue.clear();
      client.resync = true;
    } else {
      client.queue.push_back(event);
    }
    client.wake();
  }
}

void EventHub::resync_all() {
  for (auto& [id, client] : clients_) {
    client.resync = true;
    client.wake();
  }
}

void EventHub::close() {
  closed_ = true;
  for (auto& [id, client] : clients_) client.wake();
}

}  // namespace opencode_cache::server::app
