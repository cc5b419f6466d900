#include "api/server.h"

#include <pthread.h>

#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <list>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "api/core_routes.h"
#include "api/keys.h"
#include "api/metrics.h"
#include "api/rate_limit.h"
#include "log/event_types.h"

namespace logbook::api {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

// Each worker thread runs its own io_context, and a connection lives on one
// of them for its whole life: its handlers never run concurrently, so it
// needs no strand, and the executor type is concrete rather than
// type-erased. (One shared context with a strand per connection cost about
// a quarter of the workers' time in locking and executor copies.)
using Executor = net::io_context::executor_type;
using Socket = net::basic_stream_socket<tcp, Executor>;
using Stream = beast::basic_stream<tcp, Executor, beast::unlimited_rate_policy>;

namespace {

constexpr std::string_view kSubscribePath = "/v1/subscribe";
const std::string kNoRoute = "-";  // requests that matched no route

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

struct Server::Impl {
  Impl(Engine& e, KeyStore& k, ServerOptions o)
      : engine(e),
        keys(k),
        options(std::move(o)),
        key_limiter({options.key_rate, options.key_burst, 100000}),
        ip_limiter({options.ip_rate, options.ip_burst, 100000}) {
    const int n = options.threads > 0
                      ? options.threads
                      : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    for (int i = 0; i < n; ++i) contexts.push_back(std::make_unique<net::io_context>(1));
  }

  // Declaration order matters: the io_context is destroyed before what its
  // pending sessions touch (counters, metrics), and after what uses it.
  Engine& engine;
  KeyStore& keys;
  ServerOptions options;
  Router router;
  MetricsRegistry metrics;
  RateLimiter key_limiter;
  RateLimiter ip_limiter;
  uint16_t port = 0;

  std::atomic<size_t> connections{0};
  std::atomic<size_t> inflight{0};
  std::atomic<bool> draining{false};
  std::atomic<bool> started{false};
  std::mutex stop_mu;
  std::condition_variable stop_cv;

  // SSE subscriptions: one thread each.
  struct Subscription {
    std::thread thread;
    std::shared_ptr<Socket> socket;
    std::atomic<bool> done{false};
  };
  std::mutex subs_mu;
  std::list<Subscription> subs;
  std::atomic<bool> subs_stop{false};

  // One per worker; contexts[0] also runs the acceptor and the signal set.
  std::vector<std::unique_ptr<net::io_context>> contexts;
  size_t next_context = 0;  // round robin for new connections; acceptor only
  net::io_context& ioc() { return *contexts[0]; }
  // Replies may come from other threads (the log's completer) after a
  // shutdown whose grace period ran out: they post to the io_context only
  // while this gate is open; Wait() closes it before destroying the context.
  struct ReplyGate {
    std::mutex mu;
    bool open = true;
  };
  std::shared_ptr<ReplyGate> gate = std::make_shared<ReplyGate>();

  // Keeps the workers running while requests wait outside Asio (an append
  // waiting for its fsync has no pending I/O); released by the stopper.
  std::vector<net::executor_work_guard<Executor>> work;
  std::optional<tcp::acceptor> acceptor;
  std::optional<net::signal_set> signals;
  std::vector<std::thread> workers;
  std::thread stopper;

  // Per (route, status) metric handles, looked up in the registry once.
  struct RouteMetrics {
    Counter* requests;
    Histogram* latency;
    void Record(double seconds) {
      requests->Inc();
      latency->Observe(seconds);
    }
  };
  std::mutex route_metrics_mu;
  std::unordered_map<std::string, RouteMetrics> route_metrics;
  RouteMetrics& RequestMetrics(const std::string& route, int status) {
    const std::string key = route + '\n' + std::to_string(status);
    std::lock_guard<std::mutex> l(route_metrics_mu);
    auto it = route_metrics.find(key);
    if (it != route_metrics.end()) return it->second;
    const Labels labels = {{"route", route}, {"status", std::to_string(status)}};
    RouteMetrics m{&metrics.GetCounter("logbook_http_requests_total",
                                       "HTTP requests by route and status", labels),
                   &metrics.GetHistogram("logbook_http_request_duration_seconds",
                                         "HTTP request latency by route and status",
                                         MetricsRegistry::LatencyBuckets(), labels)};
    return route_metrics.emplace(key, m).first->second;
  }

  void Accept();
  void OnAccept(beast::error_code ec, Socket socket);
  void BeginShutdown();
  std::string RenderMetrics();
  void StartSubscription(Socket socket, Caller caller, uint64_t from_lsn);
  void RunSubscription(Subscription* sub, Caller caller, uint64_t from_lsn);
  void ReapSubscriptions(bool all);
};

// One connection: reads requests, dispatches them, writes responses, in order.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Server::Impl& srv, Socket socket) : srv_(srv), stream_(std::move(socket)) {
    beast::error_code ec;
    auto ep = stream_.socket().remote_endpoint(ec);
    if (!ec) client_ip_ = ep.address().to_string();
  }
  ~Session() { srv_.connections.fetch_sub(1); }

  void Start() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->ReadHeader(); });
  }

 private:
  void ReadHeader() {
    if (srv_.draining.load()) return Close();
    parser_.emplace();
    parser_->body_limit(srv_.options.body_limit);
    parser_->header_limit(16 * 1024);
    stream_.expires_after(srv_.options.header_timeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              self->OnHeader(ec);
                            });
  }

  void OnHeader(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    const auto& h = parser_->get();
    if (h.has_content_length() && parser_->content_length() &&
        *parser_->content_length() > srv_.options.body_limit) {
      keep_alive_ = false;
      return Send(Response::Error(413, "payload_too_large",
                                  "body exceeds " + std::to_string(srv_.options.body_limit) +
                                      " bytes"),
                  "-", std::chrono::steady_clock::now());
    }
    // The body usually arrived with the header: parse what the buffer holds
    // before asking the reactor for more.
    while (!parser_->is_done() && buffer_.size() > 0) {
      const size_t n = parser_->put(buffer_.data(), ec);
      if (ec == http::error::need_more) {
        ec = {};
        break;
      }
      if (ec) return OnReadError(ec);
      buffer_.consume(n);
      if (n == 0) break;
    }
    if (parser_->is_done()) return OnRead({});
    stream_.expires_after(srv_.options.body_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       self->OnRead(ec);
                     });
  }

  void OnReadError(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      keep_alive_ = false;
      return Send(Response::Error(413, "payload_too_large",
                                  "body exceeds " + std::to_string(srv_.options.body_limit) +
                                      " bytes"),
                  "-", std::chrono::steady_clock::now());
    }
    if (ec == http::error::end_of_stream || ec == net::error::eof ||
        ec == beast::error::timeout || ec == net::error::operation_aborted ||
        ec == net::error::connection_reset) {
      return Close();
    }
    // A malformed request: answer 400 once, then close.
    keep_alive_ = false;
    Send(Response::Error(400, "bad_request", "malformed HTTP request: " + ec.message()), "-",
         std::chrono::steady_clock::now());
  }

  void OnRead(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    auto msg = std::make_shared<http::request<http::string_body>>(parser_->release());
    keep_alive_ = msg->keep_alive();
    Handle(std::move(msg));
  }

  void Handle(std::shared_ptr<http::request<http::string_body>> msg) {
    const auto start = std::chrono::steady_clock::now();
    srv_.inflight.fetch_add(1);
    counted_ = true;

    Request req;
    req.method = std::string(msg->method_string());
    std::string_view target(msg->target().data(), msg->target().size());
    const size_t q = target.find('?');
    std::string_view raw_path = target.substr(0, q);
    if (q != std::string_view::npos && !ParseQuery(target.substr(q + 1), &req.query)) {
      return Send(Response::Error(400, "bad_request", "malformed query string"), "-", start);
    }
    req.path = std::string(raw_path);
    req.body = std::move(msg->body());
    req.header = [msg](std::string_view name) {
      auto it = msg->find(beast::string_view(name.data(), name.size()));
      return it == msg->end() ? std::string() : std::string(it->value());
    };
    req.caller.client_ip = client_ip_;

    Router::Match m = srv_.router.Find(req.method, req.path);
    if (m.route == nullptr) {
      if (m.method_mismatch) {
        Response r = Response::Error(405, "method_not_allowed",
                                     req.method + " is not allowed on " + req.path);
        std::string allow;
        for (const auto& a : m.allowed) allow += (allow.empty() ? "" : ", ") + a;
        r.headers.emplace_back("Allow", allow);
        return Send(std::move(r), "-", start);
      }
      return Send(Response::Error(404, "not_found", "no route for " + req.path), "-", start);
    }
    const Route& route = *m.route;
    route_name_ = route.name;
    req.params = std::move(m.params);

    if (!route.public_route) {
      if (srv_.ip_limiter.enabled()) {
        if (auto wait = srv_.ip_limiter.Take(client_ip_, start)) return TooMany(*wait, start);
      }
      Response err;
      if (!Authenticate(req, route, &err)) return Send(std::move(err), route.name, start);
      if (srv_.key_limiter.enabled()) {
        if (auto wait = srv_.key_limiter.Take(req.caller.key_id, start)) return TooMany(*wait, start);
      }
      // A body must say it is JSON; an empty one (POST .../restore/{id}) need not.
      if ((req.method == "POST" || req.method == "PUT" || req.method == "PATCH") &&
          !req.body.empty()) {
        const std::string ct = req.header("Content-Type");
        // JSON Lines (session bundles) are JSON documents too.
        if (ct.rfind("application/json", 0) != 0 && ct.rfind("application/x-ndjson", 0) != 0) {
          return Send(Response::Error(415, "unsupported_media_type",
                                      "Content-Type must be application/json"),
                      route.name, start);
        }
      }
    }
    key_id_ = req.caller.key_id;

    if (req.path == kSubscribePath) return Subscribe(req, start);

    auto self = shared_from_this();
    auto replied = std::make_shared<std::atomic<bool>>(false);
    Reply reply = [self, replied, start, gate = srv_.gate](Response r) {
      if (replied->exchange(true)) return;  // a handler replies once
      std::lock_guard<std::mutex> l(gate->mu);
      if (!gate->open) return;  // the server is gone; the connection with it
      net::post(self->stream_.get_executor(), [self, r = std::move(r), start]() mutable {
        self->Send(std::move(r), self->route_name_, start);
      });
    };
    try {
      route.handler(req, reply);
    } catch (const std::exception& e) {
      spdlog::error("handler {} threw: {}", route.name, e.what());
      reply(Response::Error(500, "internal", "internal error"));
    }
  }

  bool Authenticate(Request& req, const Route& route, Response* err) {
    const std::string auth = req.header("Authorization");
    constexpr std::string_view kBearer = "Bearer ";
    if (auth.size() <= kBearer.size() || auth.compare(0, kBearer.size(), kBearer) != 0) {
      *err = Response::Error(401, "unauthorized", "missing Authorization: Bearer <api key>");
      err->headers.emplace_back("WWW-Authenticate", "Bearer");
      return false;
    }
    std::optional<Principal> p = srv_.keys.Authenticate(std::string_view(auth).substr(kBearer.size()));
    if (!p) {
      *err = Response::Error(401, "unauthorized", "unknown or revoked API key");
      err->headers.emplace_back("WWW-Authenticate", "Bearer");
      return false;
    }
    req.caller.key_id = p->key_id;
    req.caller.key_tenant = p->tenant;
    req.caller.role = p->role;
    req.caller.tenant = p->tenant;
    const std::string header_tenant = req.header("X-Tenant-ID");
    if (!header_tenant.empty()) {
      if (Status s = ValidateTenantName(header_tenant); !s.ok()) {
        *err = Response::Error(400, "bad_request", "X-Tenant-ID: " + s.message());
        return false;
      }
      if (!p->tenant.empty() && header_tenant != p->tenant) {
        *err = Response::Error(403, "forbidden", "X-Tenant-ID does not match the API key's tenant");
        return false;
      }
      req.caller.tenant = header_tenant;
    }
    if (!RoleAllows(p->role, route.min_role)) {
      *err = Response::Error(403, "forbidden",
                             std::string("this route needs the ") +
                                 std::string(RoleName(route.min_role)) + " role");
      return false;
    }
    return true;
  }

  void TooMany(int wait_s, std::chrono::steady_clock::time_point start) {
    Response r = Response::Error(429, "rate_limited", "too many requests");
    r.headers.emplace_back("Retry-After", std::to_string(wait_s));
    Send(std::move(r), route_name_, start);
  }

  void Subscribe(Request& req, std::chrono::steady_clock::time_point start) {
    uint64_t from = 1;
    Response err;
    if (!QueryU64(req, "from_lsn", &from, &err)) return Send(std::move(err), route_name_, start);
    const std::string last_id = req.header("Last-Event-ID");
    if (!last_id.empty()) {
      if (last_id.find_first_not_of("0123456789") != std::string::npos || last_id.size() > 19) {
        return Send(Response::Error(400, "bad_request", "Last-Event-ID must be an LSN"),
                    route_name_, start);
      }
      from = std::stoull(last_id) + 1;  // resume after the last event seen
    }
    Caller caller = req.caller;
    Finish(200, start);  // the request ends here; the stream lives on its own thread
    stream_.expires_never();
    srv_.StartSubscription(stream_.release_socket(), std::move(caller), std::max<uint64_t>(from, 1));
  }

  void Send(Response r, const std::string& route, std::chrono::steady_clock::time_point start) {
    auto res = std::make_shared<http::response<http::string_body>>();
    res->version(11);
    res->result(static_cast<http::status>(r.status));
    res->set(http::field::server, "logbook");
    res->set(http::field::content_type, r.content_type);
    for (const auto& [k, v] : r.headers) res->set(k, v);
    res->body() = std::move(r.body);
    const bool keep = keep_alive_ && !srv_.draining.load();
    res->keep_alive(keep);
    res->prepare_payload();
    route_name_ = route;
    const int status = r.status;
    stream_.expires_after(srv_.options.body_timeout);  // a client that stops reading
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res, keep, status, start](beast::error_code ec,
                                                                              size_t bytes) {
                        self->Finish(status, start, bytes);
                        if (ec || !keep) return self->Close();
                        self->ReadHeader();
                      });
  }

  void Finish(int status, std::chrono::steady_clock::time_point start, size_t bytes = 0) {
    const auto elapsed = std::chrono::steady_clock::now() - start;
    const std::string& route = route_name_.empty() ? kNoRoute : route_name_;
    // A keep-alive connection mostly repeats one route and status: remember
    // the last handles instead of looking them up under the registry's lock.
    if (metrics_ == nullptr || metrics_status_ != status || metrics_route_ != route) {
      metrics_ = &srv_.RequestMetrics(route, status);
      metrics_status_ = status;
      metrics_route_ = route;
    }
    metrics_->Record(Seconds(elapsed));
    spdlog::info("{} {} \"{}\" {} {}B {:.3f}ms", client_ip_.empty() ? "-" : client_ip_,
                 key_id_.empty() ? "-" : key_id_, route, status, bytes,
                 Seconds(elapsed) * 1e3);
    if (counted_) {
      counted_ = false;
      srv_.inflight.fetch_sub(1);
      if (srv_.draining.load()) {
        { std::lock_guard<std::mutex> l(srv_.stop_mu); }  // no lost wake-up
        srv_.stop_cv.notify_all();
      }
    }
  }

  void Close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);  // best effort
    stream_.close();
  }

  Server::Impl& srv_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string client_ip_;
  std::string key_id_;
  std::string route_name_;
  Server::Impl::RouteMetrics* metrics_ = nullptr;  // for metrics_route_, metrics_status_
  std::string metrics_route_;
  int metrics_status_ = 0;
  bool keep_alive_ = true;
  bool counted_ = false;
};

void Server::Impl::Accept() {
  net::io_context& target = *contexts[next_context++ % contexts.size()];
  acceptor->async_accept(target.get_executor(), [this](beast::error_code ec, Socket s) {
    OnAccept(ec, std::move(s));
  });
}

void Server::Impl::OnAccept(beast::error_code ec, Socket socket) {
  if (ec == net::error::operation_aborted || !acceptor || !acceptor->is_open()) return;
  if (!ec) {
    if (connections.load() >= options.max_connections) {
      beast::error_code ignored;
      socket.close(ignored);  // over the cap: refuse at once
      metrics.GetCounter("logbook_http_connections_refused_total", "Connections over the cap").Inc();
    } else {
      connections.fetch_add(1);
      std::make_shared<Session>(*this, std::move(socket))->Start();
    }
  }
  Accept();
}

std::string Server::Impl::RenderMetrics() {
  const LogStats s = engine.log().stats();
  metrics.GetGauge("logbook_appends_total", "Appends acknowledged").Set(static_cast<double>(s.appends));
  metrics.GetGauge("logbook_events_total", "Events written").Set(static_cast<double>(s.events));
  metrics.GetGauge("logbook_group_commits_total", "Group commits (WriteBatches)")
      .Set(static_cast<double>(s.group_commits));
  metrics.GetGauge("logbook_wal_fsyncs_total", "WAL fsyncs").Set(static_cast<double>(s.wal_syncs));
  metrics.GetGauge("logbook_conflicts_total", "Appends refused for expected version")
      .Set(static_cast<double>(s.conflicts));
  metrics.GetGauge("logbook_group_max_requests", "Largest group commit (requests)")
      .Set(static_cast<double>(s.max_group_requests));
  metrics.GetGauge("logbook_group_avg_events", "Average events per group commit")
      .Set(s.group_commits ? static_cast<double>(s.events) / static_cast<double>(s.group_commits) : 0);
  metrics.GetGauge("logbook_last_lsn", "Last durable LSN").Set(static_cast<double>(engine.log().LastLsn()));
  metrics.GetGauge("logbook_read_only", "1 when a write error made the log read-only")
      .Set(engine.log().health().ok() ? 0 : 1);
  for (const ViewStatus& v : engine.projector().GetStatus()) {
    metrics.GetGauge("logbook_projector_lag_events", "Events a view is behind the log", {{"view", v.name}})
        .Set(static_cast<double>(v.lag));
  }
  metrics.GetGauge("logbook_http_connections", "Open HTTP connections").Set(static_cast<double>(connections.load()));
  return metrics.Render();
}

void Server::Impl::StartSubscription(Socket socket, Caller caller, uint64_t from_lsn) {
  ReapSubscriptions(false);
  std::lock_guard<std::mutex> l(subs_mu);
  if (subs.size() >= options.max_subscribers || subs_stop.load()) {
    const std::string body = Response::Error(503, "unavailable", "too many subscribers").body;
    std::string msg = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                      "Connection: close\r\nContent-Length: " + std::to_string(body.size()) +
                      "\r\n\r\n" + body;
    beast::error_code ec;
    net::write(socket, net::buffer(msg), ec);
    socket.close(ec);
    return;
  }
  subs.emplace_back();
  Subscription* sub = &subs.back();
  sub->socket = std::make_shared<Socket>(std::move(socket));
  sub->thread = std::thread([this, sub, caller = std::move(caller), from_lsn] {
    RunSubscription(sub, caller, from_lsn);
  });
}

void Server::Impl::RunSubscription(Subscription* sub, Caller caller, uint64_t from_lsn) {
  Socket& sock = *sub->socket;
  beast::error_code ec;
  sock.non_blocking(false, ec);
  auto write = [&](const std::string& s) {
    net::write(sock, net::buffer(s), ec);
    return !ec;
  };
  bool ok = write(
      "HTTP/1.1 200 OK\r\nServer: logbook\r\nContent-Type: text/event-stream\r\n"
      "Cache-Control: no-cache\r\nConnection: close\r\nX-Accel-Buffering: no\r\n\r\n"
      "retry: 1000\n\n");
  Log& log = engine.log();
  uint64_t next = from_lsn;
  auto last_write = std::chrono::steady_clock::now();
  while (ok && !subs_stop.load()) {
    Result<std::vector<Event>> batch = log.ReadAll(next, 256);
    if (!batch.ok()) {
      write("event: error\ndata: " + Response::FromStatus(batch.status()).body + "\n\n");
      break;
    }
    std::string out;
    for (const Event& e : *batch) {
      next = e.lsn + 1;
      if (!CanSeeTenant(caller, e.tenant)) continue;
      out += "id: " + std::to_string(e.lsn) + "\nevent: " + EventTypeName(e.type) +
             "\ndata: " + Engine::EventToJsonText(e) + "\n\n";
    }
    if (!out.empty()) {
      ok = write(out);
      last_write = std::chrono::steady_clock::now();
    }
    if (!batch->empty()) continue;
    (void)log.WaitForLsn(next, std::chrono::milliseconds(500), &subs_stop);  // any outcome: loop
    if (std::chrono::steady_clock::now() - last_write >= options.sse_heartbeat) {
      ok = write(": keep-alive\n\n");  // also detects a client that went away
      last_write = std::chrono::steady_clock::now();
    }
  }
  sock.shutdown(tcp::socket::shutdown_both, ec);
  sock.close(ec);
  sub->done.store(true);
}

void Server::Impl::ReapSubscriptions(bool all) {
  std::list<Subscription> finished;
  {
    std::lock_guard<std::mutex> l(subs_mu);
    for (auto it = subs.begin(); it != subs.end();) {
      if (all || it->done.load()) {
        auto next = std::next(it);
        finished.splice(finished.end(), subs, it);
        it = next;
      } else {
        ++it;
      }
    }
  }
  for (auto& s : finished) {
    if (s.thread.joinable()) s.thread.join();
  }
}

void Server::Impl::BeginShutdown() {
  if (draining.exchange(true)) return;
  spdlog::info("shutting down: no new connections, finishing {} in-flight request(s)",
               inflight.load());
  net::post(ioc(), [this] {
    beast::error_code ec;
    if (acceptor) acceptor->close(ec);
    if (signals) signals->cancel(ec);
  });
  stopper = std::thread([this] {
    {
      std::unique_lock<std::mutex> l(stop_mu);
      // In-flight requests always finish (the log completes every append,
      // with an error if need be), and their replies need the io_context:
      // wait for them, warning each grace period.
      while (!stop_cv.wait_for(l, options.shutdown_grace, [&] { return inflight.load() == 0; })) {
        spdlog::warn("shutdown: still {} request(s) in flight", inflight.load());
      }
    }
    subs_stop.store(true);
    engine.log().NotifyWaiters();
    {
      std::lock_guard<std::mutex> l(subs_mu);
      for (auto& s : subs) {
        beast::error_code ec;
        s.socket->shutdown(tcp::socket::shutdown_both, ec);  // unblocks a pending write
      }
    }
    ReapSubscriptions(true);
    work.clear();
    for (auto& c : contexts) c->stop();
  });
}

Server::Server(Engine& engine, KeyStore& keys, ServerOptions options)
    : impl_(std::make_unique<Impl>(engine, keys, std::move(options))) {
  CoreRouteDeps deps;
  deps.engine = &engine;
  Impl* impl = impl_.get();
  deps.ready = [impl] { return impl->started.load() && !impl->draining.load(); };
  deps.render_metrics = [impl] { return impl->RenderMetrics(); };
  AddCoreRoutes(impl_->router, deps);
  // The SSE route: handled by the session itself (it takes over the socket).
  impl_->router.Add("GET", std::string(kSubscribePath), Role::kViewer, [](Request&, Reply reply) {
    reply(Response::Error(500, "internal", "subscribe is served by the session"));
  });
}

Server::~Server() {
  Shutdown();
  Wait();
}

Router& Server::router() { return impl_->router; }
MetricsRegistry& Server::metrics() { return impl_->metrics; }
uint16_t Server::port() const { return impl_->port; }

Status Server::Start() {
  Impl& s = *impl_;
  const std::string& listen = s.options.listen;
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return Status::InvalidArgument("listen address '" + listen + "' is not host:port");
  }
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const std::string port_text = listen.substr(colon + 1);
  if (port_text.empty() || port_text.size() > 5 ||
      port_text.find_first_not_of("0123456789") != std::string::npos || std::stoi(port_text) > 65535) {
    return Status::InvalidArgument("listen address '" + listen + "' has a bad port");
  }
  beast::error_code ec;
  const auto address = net::ip::make_address(host.empty() ? "0.0.0.0" : host, ec);
  if (ec) return Status::InvalidArgument("listen address '" + listen + "': " + ec.message());
  tcp::endpoint ep(address, static_cast<uint16_t>(std::stoi(port_text)));
  s.acceptor.emplace(s.ioc());
  s.acceptor->open(ep.protocol(), ec);
  if (!ec) s.acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) s.acceptor->bind(ep, ec);
  if (!ec) s.acceptor->listen(net::socket_base::max_listen_connections, ec);
  if (ec) return Status::IOError("cannot listen on " + listen + ": " + ec.message());
  s.port = s.acceptor->local_endpoint().port();
  if (s.options.handle_signals) {
    s.signals.emplace(s.ioc(), SIGINT, SIGTERM);
    s.signals->async_wait([impl = &s](beast::error_code e, int) {
      if (!e) impl->BeginShutdown();
    });
  }
  for (auto& c : s.contexts) s.work.push_back(net::make_work_guard(*c));
  s.Accept();
  for (auto& c : s.contexts) {
    s.workers.emplace_back([ctx = c.get()] {
      pthread_setname_np(pthread_self(), "lb-http");
      ctx->run();
    });
  }
  s.started.store(true);
  return Status::OK();
}

void Server::Shutdown() {
  if (impl_->started.load()) impl_->BeginShutdown();
}

void Server::Wait() {
  Impl& s = *impl_;
  for (auto& t : s.workers) {
    if (t.joinable()) t.join();
  }
  if (s.stopper.joinable()) s.stopper.join();
  s.ReapSubscriptions(true);
  if (s.started.load() && !s.contexts.empty()) {
    // Destroying the stopped io_context destroys the sessions still waiting
    // in it, which closes their connections: idle keep-alive clients see EOF.
    {
      std::lock_guard<std::mutex> l(s.gate->mu);
      s.gate->open = false;
    }
    s.acceptor.reset();
    s.signals.reset();
    s.work.clear();
    s.contexts.clear();
  }
}

}  // namespace logbook::api
