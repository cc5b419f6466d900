#pragma once
// Server: logbook's HTTP/1.1 server (Boost.Beast on Asio).
//
// Worker threads (one per core by default) run asynchronous sessions with
// keep-alive, a body limit (413), header and body read timeouts, and a cap
// on open connections. Every request is authenticated with an API key
// (api/keys.h), checked against the route's role and the caller's tenant,
// rate-limited per key and per client IP (429 + Retry-After), routed
// (api/router.h), logged (spdlog, no secrets) and measured (/metrics).
// Appends do not block a worker: they complete when the log acknowledges
// them. Server-Sent Events subscriptions each get their own thread.
// Shutdown() stops accepting, lets in-flight requests finish (warning every
// grace period while they have not), closes idle connections, then stops.
//
// Thread-safety: Start, Shutdown and Wait may be called from any thread.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "api/router.h"
#include "engine/engine.h"
#include "log/status.h"

namespace logbook::api {

class KeyStore;
class MetricsRegistry;

struct ServerOptions {
  std::string listen = "127.0.0.1:7070";  // host:port; port 0 picks a free one
  int threads = 0;                        // 0: one per core
  size_t body_limit = 1 << 20;            // bytes; larger bodies get 413
  std::chrono::milliseconds header_timeout{10000};  // also the keep-alive idle limit
  std::chrono::milliseconds body_timeout{30000};
  size_t max_connections = 1024;
  size_t max_subscribers = 256;
  std::chrono::milliseconds sse_heartbeat{15000};
  double key_rate = 0;   // requests/s per API key; 0 = unlimited
  double key_burst = 0;
  double ip_rate = 0;    // requests/s per client IP; 0 = unlimited
  double ip_burst = 0;
  std::chrono::milliseconds shutdown_grace{10000};  // warn when in-flight requests take longer
  bool handle_signals = false;  // SIGINT/SIGTERM start a graceful shutdown
};

class Server {
 public:
  Server(Engine& engine, KeyStore& keys, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Routes are added before Start (the generic ones are already there).
  Router& router();
  MetricsRegistry& metrics();

  // Binds, listens and starts the workers. kInvalidArgument for a bad listen
  // address, kIOError when the port is taken.
  Status Start();
  uint16_t port() const;
  // Graceful: idempotent, returns at once; Wait() returns when done.
  void Shutdown();
  void Wait();

  struct Impl;  // api/server.cc only

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace logbook::api
