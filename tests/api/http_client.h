#pragma once
// A small synchronous HTTP/1.1 client for the tests (Beast), with keep-alive.

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <map>
#include <string>

namespace logbook::test {

struct HttpResult {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;
  bool ok = true;         // false: the connection failed
  std::string error;
};

class HttpClient {
 public:
  explicit HttpClient(uint16_t port) : port_(port), stream_(ioc_) {}
  ~HttpClient() {
    boost::beast::error_code ec;
    stream_.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
  }

  HttpResult Send(const std::string& method, const std::string& target, const std::string& body = "",
                  const std::map<std::string, std::string>& headers = {}) {
    namespace http = boost::beast::http;
    HttpResult out;
    boost::beast::error_code ec;
    if (!connected_) {
      stream_.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port_), ec);
      if (ec) return Fail(ec);
      SetTimeouts();
      connected_ = true;
    }
    http::request<http::string_body> req(http::string_to_verb(method), target, 11);
    req.set(http::field::host, "127.0.0.1");
    req.keep_alive(true);
    bool has_ct = false;
    for (const auto& [k, v] : headers) {
      req.set(k, v);
      if (k == "Content-Type") has_ct = true;
    }
    if (!body.empty() && !has_ct) req.set(http::field::content_type, "application/json");
    req.body() = body;
    req.prepare_payload();
    stream_.expires_after(std::chrono::seconds(30));
    http::write(stream_, req, ec);
    if (ec) return Fail(ec);
    http::response<http::string_body> res;
    http::read(stream_, buffer_, res, ec);
    if (ec) return Fail(ec);
    out.status = res.result_int();
    out.body = res.body();
    for (const auto& f : res) out.headers[std::string(f.name_string())] = std::string(f.value());
    if (!res.keep_alive()) Reset();
    return out;
  }

  // Writes raw bytes and reads one response (malformed-request tests).
  HttpResult SendRaw(const std::string& bytes) {
    namespace http = boost::beast::http;
    boost::beast::error_code ec;
    Reset();
    stream_.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port_), ec);
    if (ec) return Fail(ec);
    SetTimeouts();
    connected_ = true;
    boost::asio::write(stream_.socket(), boost::asio::buffer(bytes), ec);
    if (ec) return Fail(ec);
    http::response<http::string_body> res;
    stream_.expires_after(std::chrono::seconds(30));
    http::read(stream_, buffer_, res, ec);
    if (ec) return Fail(ec);
    HttpResult out;
    out.status = res.result_int();
    out.body = res.body();
    for (const auto& f : res) out.headers[std::string(f.name_string())] = std::string(f.value());
    Reset();
    return out;
  }

 private:
  // Synchronous Beast calls ignore stream expiry: bound them in the kernel.
  void SetTimeouts() {
    timeval tv{30, 0};
    setsockopt(stream_.socket().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(stream_.socket().native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  }
  HttpResult Fail(const boost::beast::error_code& ec) {
    HttpResult r;
    r.ok = false;
    r.error = ec.message();
    Reset();
    return r;
  }
  void Reset() {
    boost::beast::error_code ec;
    stream_.socket().close(ec);
    buffer_.clear();
    connected_ = false;
  }

  uint16_t port_;
  boost::asio::io_context ioc_;
  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  bool connected_ = false;
};

// Reads Server-Sent Events from /v1/subscribe on a raw socket.
class SseClient {
 public:
  SseClient(uint16_t port, const std::string& target, const std::string& key,
            const std::string& last_event_id = "")
      : socket_(ioc_) {
    boost::system::error_code ec;
    socket_.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port), ec);
    std::string req = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " +
                      key + "\r\nAccept: text/event-stream\r\n";
    if (!last_event_id.empty()) req += "Last-Event-ID: " + last_event_id + "\r\n";
    req += "\r\n";
    boost::asio::write(socket_, boost::asio::buffer(req), ec);
  }
  ~SseClient() {
    boost::system::error_code ec;
    socket_.close(ec);
  }
  // Reads until `n` events ("id:" lines) arrived or `timeout` passed; returns
  // the LSNs seen so far (in order).
  std::vector<uint64_t> ReadIds(size_t n, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (ids_.size() < n && std::chrono::steady_clock::now() < deadline) {
      socket_.non_blocking(true);
      char buf[4096];
      boost::system::error_code ec;
      size_t got = socket_.read_some(boost::asio::buffer(buf), ec);
      if (ec == boost::asio::error::would_block) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        continue;
      }
      if (ec) break;
      data_.append(buf, got);
      Parse();
    }
    return ids_;
  }
  const std::string& raw() const { return data_; }

 private:
  void Parse() {
    size_t pos;
    while ((pos = data_.find('\n', parsed_)) != std::string::npos) {
      std::string line = data_.substr(parsed_, pos - parsed_);
      parsed_ = pos + 1;
      if (line.rfind("id: ", 0) == 0) ids_.push_back(std::stoull(line.substr(4)));
    }
  }
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::socket socket_;
  std::string data_;
  size_t parsed_ = 0;
  std::vector<uint64_t> ids_;
};

}  // namespace logbook::test
