// http_bench: durable appends and stream reads over the HTTP API, next to the
// in-process append rate measured in the same run.
//
// What is measured, in one run, in this order:
//
//   1. In-process baseline: a logbook::Log on a fresh data directory, N
//      producer threads (--connections, default 64), each looping Append() of
//      one event (type 100, random event id, --payload random-ish bytes) to
//      its own stream with ExpectedVersion::Any(); Append returns once the
//      group-committed batch is durable (the 64-producer case of
//      bench/append_bench, same measuring code).
//   2. HTTP appends: `logbook serve` is started as a child process on another
//      fresh data directory (posix_spawn; --listen 127.0.0.1:0, the port is
//      read from its "(port N)" log line on stderr) with a keys file made here
//      through api::KeyStore (one operator key of tenant "acme"). N keep-alive
//      connections, one thread each, a synchronous Beast client (SO_RCVTIMEO /
//      SO_SNDTIMEO of 10 s, TCP_NODELAY), each POSTing one SessionClosed event
//      per request to its own stream bench/<i>:
//        POST /v1/streams/bench/<i>/events
//        {"events":[{"type":"SessionClosed","payload":{"session_id":"bench-<i>",
//                    "reason":"<--payload bytes of padding>"}}]}
//      Every answer must be 201 with the next version of the stream (anything
//      else aborts the run, printing the body). The server acknowledges only
//      after the group commit was fsynced, so every 201 is a durable event.
//      Reported: requests/s (= events/s), p50/p99/p99.9/max latency of one
//      request/response, the CPU of the bench and of the server, and the
//      server's group commits in the window (from its /metrics).
//   3. HTTP reads: GET /v1/streams/bench/<i>/events?limit=10 over the streams
//      written in case 2, at a fixed open-loop rate (--get-rate, default
//      10,000 req/s in total) spread over --get-connections keep-alive
//      connections (default 16). Connection c sends its k-th request at the
//      scheduled time start + (c + k * C) / rate, or at once when it is
//      already late; latency runs from the *scheduled* time to the end of the
//      response, so a stall of the server (or of the client) shows up in the
//      percentiles instead of silently lowering the rate (no coordinated
//      omission, as in wrk2). Reported: achieved req/s (responses received in
//      the window / window), p50/p99/p99.9/max, how late sends were, and the
//      count of non-200 answers (must be 0; any is an error).
//
// Timing: every case runs a warm-up (default 0.5 s, 0.2 s with --quick) that
// is not measured, then --seconds measured (default 5, 1 with --quick). In
// cases 1 and 2 only calls that start after the warm-up and end before the
// end of the window count; in case 3 the requests scheduled in the window.
//
// Then the server gets SIGTERM and must exit 0 within 30 s. A "targets"
// section compares HTTP appends/s with 50% of the in-process rate of case 1,
// and the GET p99 with 2 ms at the achieved rate. Missing a target is
// reported, not an error: the exit status is 1 only when something failed (a
// non-201 append, a non-200 GET, a connection error, the server not starting
// or not exiting 0), 2 on bad usage.
//
// The load generator runs on the same machine as the server (and, on a
// 2-core box, competes with it for the CPU): the numbers are a floor for what
// a server with its own cores would do. Progress and errors go to stderr, the
// tables to stdout.
//
// Run:
//   cmake --build build --target http_bench logbook
//   build/http_bench               # full run, about 20 s
//   build/http_bench --quick       # 1 s per case, a smoke test
//   make bench-http                # where the top-level Makefile provides it
// The data directories live in a fresh /tmp/http_bench.XXXXXX, removed at
// exit; the server's stderr (its access log) is kept there until then.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "api/keys.h"
#include "bench/bench_common.h"

extern char** environ;

namespace logbook::bench {
namespace {

namespace fs = std::filesystem;
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

constexpr double kTargetHttpRatio = 0.5;  // HTTP appends/s >= 50% of in-process
constexpr double kTargetGetP99Us = 2'000;
constexpr int kSocketTimeoutSec = 10;
constexpr const char* kTenant = "acme";
constexpr int kTargetWidth = 46;  // of the "what" column of PrintTarget

// ---------------------------------------------------------------- flags

struct Flags : CommonFlags {
  Flags() : CommonFlags(/*default_seconds=*/5) {}
  std::string logbook;  // empty: dirname(argv[0])/logbook
  int connections = 64;
  int get_connections = 16;
  double get_rate = 10'000;
  size_t payload = 200;
};

// The --help text after "Usage:" and before --quick (see PrintHelp).
constexpr char kHelp[] =
    "Measures durable appends over HTTP (N keep-alive connections, one event per\n"
    "request) against `logbook serve` running as a child process, next to the\n"
    "in-process logbook::Log rate with N producers in the same run, then GETs by\n"
    "stream at a fixed open-loop rate (latency from the scheduled send time).\n"
    "\n"
    "Options:\n"
    "  --logbook PATH        the logbook binary (default: logbook next to this binary)\n"
    "  --seconds S           measured seconds per case (default 5)\n"
    "  --warmup S            unmeasured warm-up per case (default 0.5; 0.2 with --quick)\n"
    "  --connections N       append connections, and in-process producers (default 64)\n"
    "  --get-rate R          GET requests/s in total, open loop (default 10000)\n"
    "  --get-connections N   keep-alive connections for the GETs (default 16)\n"
    "  --payload N           bytes of padding in each event's \"reason\" (default 200)\n";

// Returns 0 to run, -1 after --help, 2 on bad usage. An explicit --seconds
// wins over --quick.
int ParseFlags(int argc, char** argv, Flags* f) {
  auto count = [](std::string_view v, int* out) {  // 1..1000
    size_t n = 0;
    if (!ParseSize(v, &n) || n == 0 || n > 1000) return false;
    *out = static_cast<int>(n);
    return true;
  };
  const std::vector<ValueFlag> flags = {
      PathFlag("--logbook", "--logbook needs a path", &f->logbook),
      {"--connections", [&](std::string_view v) { return count(v, &f->connections); },
       "--connections needs a count in 1..1000"},
      {"--get-connections", [&](std::string_view v) { return count(v, &f->get_connections); },
       "--get-connections needs a count in 1..1000"},
      {"--get-rate",
       [f](std::string_view v) {
         return ParseDouble(v, &f->get_rate) && f->get_rate > 0 && f->get_rate <= 10'000'000;
       },
       "--get-rate needs a positive number of requests/s"},
      {"--payload",
       [f](std::string_view v) { return ParseSize(v, &f->payload) && f->payload <= (512u << 10); },
       "--payload needs a byte count up to 512 KiB"},
  };
  return ParseArgs(argc, argv, "http_bench", kHelp, QuickSeconds::kKeepExplicit, f, flags);
}

// ---------------------------------------------------------------- measurement

// utime + stime of another process from /proc/<pid>/stat; -1 if unreadable.
double ChildCpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return -1;
  const size_t paren = line.rfind(')');  // the command name may hold spaces
  if (paren == std::string::npos) return -1;
  std::istringstream rest(line.substr(paren + 2));
  std::string field;
  // Fields after the name start at 3 (state); utime is 14, stime 15.
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
  }
  const long hz = sysconf(_SC_CLK_TCK);
  return hz > 0 ? static_cast<double>(utime + stime) / static_cast<double>(hz) : -1;
}

// ---------------------------------------------------------------- case 1: in process

std::optional<CaseResult> RunInProcess(const std::string& dir, const Flags& f, const Timing& timing,
                                       std::string* error) {
  std::optional<LogCase> r = RunLogCase(dir, f.connections, 1, f.payload, kTenant, timing, error);
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (!r) return std::nullopt;
  return r->c;
}

// ---------------------------------------------------------------- HTTP client

// A blocking TCP socket as a Beast SyncReadStream / SyncWriteStream. Asio's
// own synchronous socket ops poll() again after EAGAIN, which would defeat
// SO_RCVTIMEO; here a timeout is an error (beast::error::timeout).
class FdStream {
 public:
  explicit FdStream(int fd) : fd_(fd) {}

  template <class MutableBufferSequence>
  size_t read_some(const MutableBufferSequence& buffers, beast::error_code& ec) {
    ec = {};
    for (auto it = net::buffer_sequence_begin(buffers); it != net::buffer_sequence_end(buffers);
         ++it) {
      net::mutable_buffer b = *it;
      if (b.size() == 0) continue;
      for (;;) {
        const ssize_t n = ::recv(fd_, b.data(), b.size(), 0);
        if (n > 0) return static_cast<size_t>(n);
        if (n == 0) {
          ec = net::error::eof;
          return 0;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          ec = beast::error::timeout;
        } else {
          ec = beast::error_code(errno, boost::system::system_category());
        }
        return 0;
      }
    }
    return 0;
  }
  template <class MutableBufferSequence>
  size_t read_some(const MutableBufferSequence& buffers) {
    beast::error_code ec;
    const size_t n = read_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

  template <class ConstBufferSequence>
  size_t write_some(const ConstBufferSequence& buffers, beast::error_code& ec) {
    ec = {};
    iovec iov[16];
    int n_iov = 0;
    for (auto it = net::buffer_sequence_begin(buffers);
         it != net::buffer_sequence_end(buffers) && n_iov < 16; ++it) {
      net::const_buffer b = *it;
      if (b.size() == 0) continue;
      iov[n_iov].iov_base = const_cast<void*>(b.data());
      iov[n_iov].iov_len = b.size();
      ++n_iov;
    }
    if (n_iov == 0) return 0;
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(n_iov);
    for (;;) {
      const ssize_t n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
      if (n >= 0) return static_cast<size_t>(n);
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        ec = beast::error::timeout;
      } else {
        ec = beast::error_code(errno, boost::system::system_category());
      }
      return 0;
    }
  }
  template <class ConstBufferSequence>
  size_t write_some(const ConstBufferSequence& buffers) {
    beast::error_code ec;
    const size_t n = write_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

 private:
  int fd_;
};

// One keep-alive connection to 127.0.0.1:<port>.
class HttpConn {
 public:
  HttpConn() = default;
  ~HttpConn() {
    if (fd_ >= 0) ::close(fd_);
  }
  HttpConn(const HttpConn&) = delete;
  HttpConn& operator=(const HttpConn&) = delete;

  bool Connect(uint16_t port, std::string* error) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
      *error = std::string("socket: ") + std::strerror(errno);
      return false;
    }
    timeval tv{};
    tv.tv_sec = kSocketTimeoutSec;
    const int one = 1;
    if (setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0 ||
        setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) {
      *error = std::string("setsockopt: ") + std::strerror(errno);
      return false;
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
      *error = "connect to 127.0.0.1:" + std::to_string(port) + ": " + std::strerror(errno);
      return false;
    }
    return true;
  }

  // Sends `req` and reads the response into *res. False on a transport error
  // or when the server closes the connection (it should keep it alive).
  bool RoundTrip(http::request<http::string_body>& req, http::response<http::string_body>* res,
                 std::string* error) {
    FdStream s(fd_);
    beast::error_code ec;
    http::write(s, req, ec);
    if (ec) {
      *error = "sending " + std::string(req.target()) + ": " + ec.message();
      return false;
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(64u << 20);
    http::read(s, buffer_, parser, ec);
    if (ec) {
      *error = "reading the answer to " + std::string(req.target()) + ": " + ec.message();
      return false;
    }
    *res = parser.release();
    if (!res->keep_alive()) {
      *error = "the server closed the connection after " + std::string(req.target()) + " (" +
               std::to_string(res->result_int()) + ": " + res->body() + ")";
      return false;
    }
    return true;
  }

 private:
  int fd_ = -1;
  beast::flat_buffer buffer_;
};

http::request<http::string_body> MakeRequest(http::verb verb, const std::string& target,
                                             uint16_t port, const std::string& key) {
  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  req.set(http::field::user_agent, "logbook-http_bench");
  if (!key.empty()) req.set(http::field::authorization, "Bearer " + key);
  req.keep_alive(true);
  return req;
}

// ---------------------------------------------------------------- the server child

class ServerProcess {
 public:
  ~ServerProcess() {
    if (pid_ > 0) {  // an error path: do not leave it running
      ::kill(pid_, SIGKILL);
      int st = 0;
      while (waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
      }
    }
  }

  bool Start(const std::string& binary, const std::string& data_dir, const std::string& keys,
             const std::string& out_path, const std::string& err_path, std::string* error) {
    err_path_ = err_path;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::vector<std::string> args = {binary,     "--data-dir",  data_dir,      "serve",
                                     "--listen", "127.0.0.1:0", "--keys-file", keys};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int rc = posix_spawn(&pid_, binary.c_str(), &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
      pid_ = -1;
      *error = "posix_spawn '" + binary + "': " + std::strerror(rc);
      return false;
    }
    return true;
  }

  // Waits for "(port N)" on the server's stderr.
  bool WaitForPort(double timeout_s, uint16_t* port, std::string* error) {
    const Clock::time_point until = Clock::now() + Secs(timeout_s);
    while (Clock::now() < until) {
      const std::string text = ReadErr();
      if (const size_t at = text.find("(port "); at != std::string::npos) {
        const size_t end = text.find(')', at);
        size_t p = 0;
        if (end != std::string::npos &&
            ParseSize(std::string_view(text).substr(at + 6, end - at - 6), &p) && p > 0 &&
            p < 65536) {
          *port = static_cast<uint16_t>(p);
          return true;
        }
      }
      int st = 0;
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        *error = "the server exited before listening (" + Describe(st) + "); its stderr:\n" +
                 Tail(ReadErr());
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    *error = "the server did not report its port within " + Fixed(timeout_s, 0) +
             " s; its stderr:\n" + Tail(ReadErr());
    return false;
  }

  // SIGTERM, then waits up to `timeout_s` for the exit. True iff it exited 0.
  bool Stop(double timeout_s, double* took_s, std::string* error) {
    const Clock::time_point t0 = Clock::now();
    if (::kill(pid_, SIGTERM) != 0) {
      *error = std::string("kill(SIGTERM): ") + std::strerror(errno);
      return false;
    }
    const Clock::time_point until = t0 + Secs(timeout_s);
    for (;;) {
      int st = 0;
      const pid_t r = waitpid(pid_, &st, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        *took_s = std::chrono::duration<double>(Clock::now() - t0).count();
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return true;
        *error = "the server " + Describe(st) + " after SIGTERM; the end of its stderr:\n" +
                 Tail(ReadErr());
        return false;
      }
      if (r < 0 && errno != EINTR) {
        *error = std::string("waitpid: ") + std::strerror(errno);
        return false;
      }
      if (Clock::now() >= until) {
        *error = "the server did not exit within " + Fixed(timeout_s, 0) +
                 " s of SIGTERM (killed); the end of its stderr:\n" + Tail(ReadErr());
        return false;  // the destructor kills it
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  pid_t pid() const { return pid_; }

  std::string ReadErr() const {
    std::ifstream in(err_path_, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  // The last lines of `text`, indented.
  static std::string Tail(const std::string& text, size_t lines = 15) {
    size_t at = text.size();
    for (size_t n = 0; at > 0 && n <= lines;) {
      --at;
      if (text[at] == '\n') ++n;
    }
    std::string out;
    std::istringstream in(text.substr(at));
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) out += "    " + line + "\n";
    }
    return out.empty() ? "    (empty)\n" : out;
  }

 private:
  static std::string Describe(int st) {
    if (WIFEXITED(st)) return "exited with status " + std::to_string(WEXITSTATUS(st));
    if (WIFSIGNALED(st)) return "was killed by signal " + std::to_string(WTERMSIG(st));
    return "stopped (status " + std::to_string(st) + ")";
  }

  pid_t pid_ = -1;
  std::string err_path_;
};

// Server-side counters read from GET /metrics (public route).
struct ServerCounters {
  double appends = -1;
  double events = -1;
  double group_commits = -1;
  double wal_fsyncs = -1;
};

ServerCounters ReadServerCounters(uint16_t port) {
  ServerCounters c;
  HttpConn conn;
  std::string err;
  if (!conn.Connect(port, &err)) return c;
  auto req = MakeRequest(http::verb::get, "/metrics", port, "");
  http::response<http::string_body> res;
  if (!conn.RoundTrip(req, &res, &err) || res.result_int() != 200) return c;
  std::istringstream in(res.body());
  for (std::string line; std::getline(in, line);) {
    auto take = [&](const char* name, double* out) {
      const size_t n = std::strlen(name);
      if (line.size() > n && line.compare(0, n, name) == 0 && line[n] == ' ') {
        *out = std::strtod(line.c_str() + n + 1, nullptr);
      }
    };
    take("logbook_appends_total", &c.appends);
    take("logbook_events_total", &c.events);
    take("logbook_group_commits_total", &c.group_commits);
    take("logbook_wal_fsyncs_total", &c.wal_fsyncs);
  }
  return c;
}

// ---------------------------------------------------------------- case 2: HTTP appends

struct HttpAppendWorker {
  std::unique_ptr<HttpConn> conn;
  std::string stream;
  std::string session;
  uint64_t version = 0;  // this worker is the stream's only writer
  std::unique_ptr<PayloadSource> src;
  std::unique_ptr<http::request<http::string_body>> req;
  http::response<http::string_body> res;
  std::string expect;  // "\"version\":N" in the 201 body (then '}' or ',')

  void Prepare() {
    std::string& body = req->body();
    body.clear();
    body += R"({"events":[{"type":"SessionClosed","payload":{"session_id":")";
    body += session;
    body += R"(","reason":")";
    body += src->Next();
    body += R"("}}]})";
    req->prepare_payload();
    expect = "\"version\":" + std::to_string(version + 1);
  }
  bool Execute(std::string* error) {
    if (!conn->RoundTrip(*req, &res, error)) return false;
    if (res.result_int() != 201) {
      *error = "POST " + std::string(req->target()) + " answered " +
               std::to_string(res.result_int()) + ": " + res.body();
      return false;
    }
    const std::string& b = res.body();
    const size_t at = b.find(expect);
    const bool version_ok = at != std::string::npos && at + expect.size() < b.size() &&
                            (b[at + expect.size()] == '}' || b[at + expect.size()] == ',');
    if (!version_ok || b.find("\"deduplicated\":false") == std::string::npos) {
      *error = "POST " + std::string(req->target()) + " answered 201 without " + expect + ": " +
               res.body();
      return false;
    }
    ++version;
    return true;
  }
};

struct HttpAppendResult {
  CaseResult c;
  ServerCounters s0, s1;
  uint64_t total_events = 0;  // 201s of the whole case, warm-up included
};

std::optional<HttpAppendResult> RunHttpAppends(const ServerProcess& server, uint16_t port,
                                               const std::string& key, const Flags& f,
                                               const Timing& timing, std::string* error) {
  HttpAppendResult out;
  double scpu0 = -1;
  double scpu1 = -1;
  std::optional<CaseResult> r = RunCase(
      f.connections, timing,
      [&](int t, std::string* err) -> std::optional<HttpAppendWorker> {
        HttpAppendWorker w;
        w.conn = std::make_unique<HttpConn>();
        if (!w.conn->Connect(port, err)) return std::nullopt;
        w.stream = "bench/" + std::to_string(t);
        w.session = "bench-" + std::to_string(t);
        w.src = std::make_unique<PayloadSource>(f.payload, static_cast<uint64_t>(t) + 1, true);
        w.req = std::make_unique<http::request<http::string_body>>(
            MakeRequest(http::verb::post, "/v1/streams/" + w.stream + "/events", port, key));
        w.req->set(http::field::content_type, "application/json");
        return w;
      },
      error,
      [&](bool end) {
        (end ? out.s1 : out.s0) = ReadServerCounters(port);
        (end ? scpu1 : scpu0) = ChildCpuSeconds(server.pid());
      });
  if (!r) return std::nullopt;
  out.c = *r;
  if (scpu0 >= 0 && scpu1 >= 0 && out.c.seconds > 0) {
    out.c.server_cpu_cores = (scpu1 - scpu0) / out.c.seconds;
  }
  return out;
}

// ---------------------------------------------------------------- case 3: open-loop GETs

struct GetResult {
  int connections = 0;
  double target_rate = 0;
  double seconds = 0;
  uint64_t scheduled = 0;     // requests scheduled in the window
  uint64_t completed_in = 0;  // responses received in the window
  uint64_t non200 = 0;        // in the whole case
  uint64_t total = 0;         // responses of the whole case, warm-up included
  std::string first_non200;
  Latency lat;       // from the scheduled send time
  Latency send_lag;  // actual send time - scheduled send time
  double cpu_cores = 0;
  double server_cpu_cores = -1;
  double achieved() const { return seconds > 0 ? static_cast<double>(completed_in) / seconds : 0; }
};

void SleepUntil(Clock::time_point t) {
  // libstdc++'s steady_clock is CLOCK_MONOTONIC.
  const auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
  ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

std::optional<GetResult> RunGets(const ServerProcess& server, uint16_t port, const std::string& key,
                                 const Flags& f, const Timing& timing, int streams,
                                 std::string* error) {
  const int conns = f.get_connections;
  std::vector<std::unique_ptr<HttpConn>> pool;
  for (int c = 0; c < conns; ++c) {
    pool.push_back(std::make_unique<HttpConn>());
    if (!pool.back()->Connect(port, error)) return std::nullopt;
  }
  const double rate = f.get_rate;
  const Clock::time_point start = Clock::now() + std::chrono::milliseconds(50);
  const Clock::time_point w0 = start + Secs(timing.warmup);
  const Clock::time_point w1 = w0 + Secs(timing.seconds);
  // Request k of connection c is due at start + (c + k*conns) / rate.
  auto due = [&](int c, uint64_t k) {
    return start + Secs((static_cast<double>(c) + static_cast<double>(k) * conns) / rate);
  };

  Control ctl;
  std::mutex mu;
  GetResult out;
  out.connections = conns;
  out.target_rate = rate;
  std::vector<std::vector<int64_t>> lat(static_cast<size_t>(conns));
  std::vector<std::vector<int64_t>> lag(static_cast<size_t>(conns));
  std::atomic<uint64_t> completed_in{0}, non200{0}, total{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < conns; ++c) {
    threads.emplace_back([&, c] {
      HttpConn& conn = *pool[static_cast<size_t>(c)];
      std::vector<int64_t>& my_lat = lat[static_cast<size_t>(c)];
      std::vector<int64_t>& my_lag = lag[static_cast<size_t>(c)];
      my_lat.reserve(static_cast<size_t>(rate / conns * timing.seconds * 1.1) + 16);
      my_lag.reserve(my_lat.capacity());
      http::request<http::string_body> req = MakeRequest(http::verb::get, "/", port, key);
      http::response<http::string_body> res;
      std::string err;
      for (uint64_t k = 0; !ctl.stopped(); ++k) {
        const Clock::time_point sched = due(c, k);
        if (sched >= w1) break;
        const int stream = static_cast<int>((static_cast<uint64_t>(c) + k * conns) %
                                            static_cast<uint64_t>(streams));
        req.target("/v1/streams/bench/" + std::to_string(stream) + "/events?limit=10");
        SleepUntil(sched);
        const Clock::time_point sent = Clock::now();
        if (!conn.RoundTrip(req, &res, &err)) {
          ctl.Fail("GET connection " + std::to_string(c) + ": " + err);
          return;
        }
        const Clock::time_point done = Clock::now();
        total.fetch_add(1, std::memory_order_relaxed);
        if (done >= w0 && done < w1) completed_in.fetch_add(1, std::memory_order_relaxed);
        if (res.result_int() != 200) {
          non200.fetch_add(1, std::memory_order_relaxed);
          std::lock_guard<std::mutex> l(mu);
          if (out.first_non200.empty()) {
            out.first_non200 = "GET " + std::string(req.target()) + " answered " +
                               std::to_string(res.result_int()) + ": " + res.body();
          }
        }
        if (sched >= w0) {
          my_lat.push_back(
              std::chrono::duration_cast<std::chrono::nanoseconds>(done - sched).count());
          my_lag.push_back(
              std::chrono::duration_cast<std::chrono::nanoseconds>(sent - sched).count());
        }
      }
    });
  }
  // The window's CPU: sample at w0 and w1 (the threads own the schedule).
  SleepUntil(w0);
  const double cpu_w0 = ProcessCpuSeconds();
  const double scpu0 = ChildCpuSeconds(server.pid());
  SleepUntil(w1);
  const double cpu_w1 = ProcessCpuSeconds();
  const double scpu1 = ChildCpuSeconds(server.pid());
  for (auto& t : threads) t.join();

  if (std::string e = ctl.error(); !e.empty()) {
    *error = e;
    return std::nullopt;
  }
  out.seconds = timing.seconds;
  out.completed_in = completed_in.load();
  out.non200 = non200.load();
  out.total = total.load();
  out.cpu_cores = (cpu_w1 - cpu_w0) / timing.seconds;
  if (scpu0 >= 0 && scpu1 >= 0) out.server_cpu_cores = (scpu1 - scpu0) / timing.seconds;
  std::vector<int64_t> all = Merge(&lat);
  out.scheduled = all.size();
  out.lat = Summarize(&all);
  std::vector<int64_t> lags = Merge(&lag);
  out.send_lag = Summarize(&lags);
  return out;
}

// ---------------------------------------------------------------- output

std::string Us(double us) { return Fixed(us, 1); }

void PrintLatencyHeader(const char* first, const char* rate_name, const char* count_name) {
  std::printf("%11s %12s %10s %9s %9s %9s %9s %5s %6s\n", first, rate_name, count_name, "p50 µs",
              "p99 µs", "p999 µs", "max µs", "cpu", "server");
}

void PrintLatencyRow(const std::string& first, double rate, uint64_t count, const Latency& l,
                     double cpu, double server_cpu) {
  std::printf("%11s %12s %10s %9s %9s %9s %9s %5.2f %6s\n", first.c_str(), Grouped(rate).c_str(),
              Grouped(static_cast<double>(count)).c_str(), Us(l.p50_us).c_str(),
              Us(l.p99_us).c_str(), Us(l.p999_us).c_str(), Us(l.max_us).c_str(), cpu,
              server_cpu < 0 ? "-" : Fixed(server_cpu, 2).c_str());
}

// Everything measured so far; printed at the end (also after an error).
struct Results {
  std::optional<CaseResult> inproc;      // case 1
  std::optional<HttpAppendResult> http;  // case 2
  std::optional<GetResult> gets;         // case 3
  std::optional<double> shutdown_s;      // from SIGTERM to the server's exit
};

void PrintTables(const Flags& f, const Results& res) {
  const std::string payload = std::to_string(f.payload) + " B";
  if (res.inproc) {
    PrintSection("1. in process: logbook::Log::Append, 1 event per call (" + payload +
                 " payload), " + std::to_string(f.connections) + " producers, own streams");
    PrintLatencyHeader("producers", "appends/s", "calls");
    const CaseResult& c = *res.inproc;
    PrintLatencyRow(std::to_string(c.threads), c.ops_per_sec(), c.ops, c.lat, c.cpu_cores, -1);
  }
  if (res.http) {
    PrintSection("2. HTTP: POST /v1/streams/bench/<i>/events, 1 event per request (" + payload +
                 " reason), 201 = durable");
    PrintLatencyHeader("connections", "requests/s", "requests");
    const CaseResult& c = res.http->c;
    PrintLatencyRow(std::to_string(c.threads), c.ops_per_sec(), c.ops, c.lat, c.cpu_cores,
                    c.server_cpu_cores);
    const ServerCounters& a = res.http->s0;
    const ServerCounters& b = res.http->s1;
    if (a.group_commits >= 0 && b.group_commits > a.group_commits && c.seconds > 0) {
      const double groups = b.group_commits - a.group_commits;
      const double appends = b.appends - a.appends;
      std::printf("  server in the window (/metrics): %s group commits/s, %s requests/group",
                  Grouped(groups / c.seconds).c_str(), Fixed(appends / groups, 1).c_str());
      if (b.wal_fsyncs > a.wal_fsyncs) {
        std::printf(", %s WAL fsyncs/s",
                    Grouped((b.wal_fsyncs - a.wal_fsyncs) / c.seconds).c_str());
      }
      std::printf("\n");
    }
  }
  if (res.gets) {
    const GetResult& g = *res.gets;
    PrintSection("3. HTTP: GET /v1/streams/bench/<i>/events?limit=10, open loop at " +
                 Grouped(g.target_rate) + " req/s; latency from the scheduled send time");
    PrintLatencyHeader("connections", "achieved/s", "requests");
    PrintLatencyRow(std::to_string(g.connections), g.achieved(), g.scheduled, g.lat, g.cpu_cores,
                    g.server_cpu_cores);
    std::printf("  send lag (actual - scheduled send): p50 %s µs, p99 %s µs, max %s µs\n",
                Us(g.send_lag.p50_us).c_str(), Us(g.send_lag.p99_us).c_str(),
                Us(g.send_lag.max_us).c_str());
    std::printf("  non-200 answers: %s of %s (warm-up included)\n",
                Grouped(static_cast<double>(g.non200)).c_str(),
                Grouped(static_cast<double>(g.total)).c_str());
  }
  if (res.inproc || res.http || res.gets) {
    std::printf(
        "\n  cpu: cores used by this process in the window (load generator included);\n"
        "  server: cores used by the `logbook serve` child in the window.\n");
  }
  if (res.shutdown_s) {
    std::printf("\n  server stopped by SIGTERM in %s s, exit status 0\n",
                Fixed(*res.shutdown_s, 2).c_str());
  }
}

void PrintTargets(const Flags& f, const Results& res) {
  PrintSection("targets");
  if (f.payload != 200) {
    std::printf("  note: the targets are stated for 200-byte payloads; this run used %zu.\n",
                f.payload);
  }
  if (res.inproc && res.http && res.inproc->ops_per_sec() > 0) {
    const double in = res.inproc->ops_per_sec();
    const double over = res.http->c.ops_per_sec();
    const double ratio = over / in;
    PrintTarget(kTargetWidth, "HTTP appends/s (" + std::to_string(f.connections) + " conns)",
                Grouped(over), ">= " + Grouped(in * kTargetHttpRatio), ratio >= kTargetHttpRatio);
    PrintTarget(
        kTargetWidth,
        "  vs in-process " + Grouped(in) + "/s (" + std::to_string(f.connections) + " producers)",
        Fixed(ratio, 2) + "x", ">= " + Fixed(kTargetHttpRatio, 2) + "x", ratio >= kTargetHttpRatio);
  }
  if (res.gets) {
    const GetResult& g = *res.gets;
    PrintTarget(kTargetWidth, "GET p99 at " + Grouped(g.achieved()) + " req/s",
                Us(g.lat.p99_us) + " µs", "< " + Grouped(kTargetGetP99Us) + " µs",
                g.lat.p99_us < kTargetGetP99Us);
    if (g.achieved() < 0.95 * g.target_rate) {
      std::printf("  note: achieved %s req/s, below the offered %s req/s.\n",
                  Grouped(g.achieved()).c_str(), Grouped(g.target_rate).c_str());
    }
  }
  std::printf("\n  Client and server share this machine's %u hardware threads.\n",
              std::thread::hardware_concurrency());
}

std::string ResolveLogbook(const Flags& f, const char* argv0) {
  if (!f.logbook.empty()) return f.logbook;
  std::string self = argv0;
  if (self.find('/') == std::string::npos) {
    std::error_code ec;
    self = fs::read_symlink("/proc/self/exe", ec).string();
  }
  return (fs::path(self).parent_path() / "logbook").string();
}

int Main(int argc, char** argv) {
  Flags flags;
  if (int rc = ParseFlags(argc, argv, &flags); rc != 0) return rc < 0 ? 0 : rc;
  const Timing timing{flags.warmup, flags.seconds};
  signal(SIGPIPE, SIG_IGN);

  const std::string logbook = ResolveLogbook(flags, argv[0]);
  if (::access(logbook.c_str(), X_OK) != 0) {
    std::fprintf(stderr,
                 "http_bench: the logbook binary '%s' is not executable (%s); build it "
                 "(cmake --build build --target logbook) or pass --logbook PATH\n",
                 logbook.c_str(), std::strerror(errno));
    return 1;
  }

  BenchRoot root;
  if (!root.Init("http_bench", "")) return 1;
  std::string error;

  std::printf("http_bench: durable appends and reads over HTTP vs in-process appends\n");
  std::printf("  server     %s serve --listen 127.0.0.1:0 (child process)\n", logbook.c_str());
  std::printf("  data dir   %s (fresh, removed at exit)\n", root.path().c_str());
  std::printf("  per case   %s s warm-up (not measured) + %s s measured\n",
              Fixed(timing.warmup, 1).c_str(), Fixed(timing.seconds, 1).c_str());
  std::printf("  appends    %d connections / producers, 1 event each, %zu B padding\n",
              flags.connections, flags.payload);
  std::printf("  gets       %s req/s open loop over %d connections, limit=10\n",
              Grouped(flags.get_rate).c_str(), flags.get_connections);
  std::printf("  machine    %u hardware threads; client and server on the same machine\n",
              std::thread::hardware_concurrency());
  std::fflush(stdout);

  Results res;
  auto fail = [&](const std::string& what) {
    PrintTables(flags, res);
    return Failed("http_bench", what, error);
  };

  // 1. In process.
  Progress("in-process Log, " + std::to_string(flags.connections) + " producers x 1 event");
  res.inproc = RunInProcess(root.path() + "/inproc", flags, timing, &error);
  if (!res.inproc) return fail("the in-process case");

  // 2. The server, with a keys file of one operator key.
  const std::string keys_path = root.path() + "/keys.json";
  std::string key;
  {
    logbook::Result<std::string> k = logbook::api::KeyStore::CreateEmpty(keys_path)->Create(
        kTenant, logbook::Role::kOperator, "bench");
    if (!k.ok()) {
      error = k.status().ToString();
      return fail("creating the keys file " + keys_path);
    }
    key = *k;
  }
  ServerProcess server;
  uint16_t port = 0;
  Progress("starting " + logbook + " serve");
  if (!server.Start(logbook, root.path() + "/server", keys_path, root.path() + "/server.out",
                    root.path() + "/server.err", &error) ||
      !server.WaitForPort(60, &port, &error)) {
    return fail("starting the server");
  }
  std::fprintf(stderr, "  server pid %d listening on 127.0.0.1:%u\n",
               static_cast<int>(server.pid()), port);

  Progress("HTTP appends, " + std::to_string(flags.connections) + " connections");
  res.http = RunHttpAppends(server, port, key, flags, timing, &error);
  if (!res.http) return fail("the HTTP append case");

  // 3. Open-loop GETs over the streams written in case 2.
  Progress("HTTP GETs, " + Grouped(flags.get_rate) + " req/s over " +
           std::to_string(flags.get_connections) + " connections");
  res.gets = RunGets(server, port, key, flags, timing, flags.connections, &error);
  if (!res.gets) return fail("the GET case");

  Progress("stopping the server (SIGTERM)");
  double took = 0;
  if (!server.Stop(30, &took, &error)) return fail("stopping the server");
  res.shutdown_s = took;

  PrintTables(flags, res);
  PrintTargets(flags, res);
  std::fflush(stdout);
  if (res.gets->non200 > 0) {
    std::fprintf(stderr, "\nhttp_bench: ERROR: %s GET(s) were not answered 200; first: %s\n",
                 Grouped(static_cast<double>(res.gets->non200)).c_str(),
                 res.gets->first_non200.c_str());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace logbook::bench

int main(int argc, char** argv) { return logbook::bench::Main(argc, argv); }
