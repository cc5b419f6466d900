#include "api/http.h"

namespace logbook::api {

Response Response::Json(int status, const nlohmann::json& j) {
  Response r;
  r.status = status;
  // Replace invalid UTF-8 (a client may send any bytes) rather than throw.
  r.body = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

Response Response::Raw(int status, std::string json_text) {
  Response r;
  r.status = status;
  r.body = std::move(json_text);
  return r;
}

Response Response::Error(int status, std::string_view code, std::string_view message) {
  return Json(status, {{"error", {{"code", code}, {"message", message}}}});
}

Response Response::FromStatus(const Status& s) {
  switch (s.code()) {
    case Status::Code::kOk: return Json(200, nlohmann::json::object());
    case Status::Code::kInvalidArgument: return Error(422, "invalid_argument", s.message());
    case Status::Code::kNotFound: return Error(404, "not_found", s.message());
    case Status::Code::kConflict: {
      Response r = Json(409, {{"error",
                               {{"code", "wrong_expected_version"},
                                {"message", s.message()},
                                {"actual_version", s.actual_version()}}}});
      return r;
    }
    case Status::Code::kIdempotencyConflict:
      return Error(409, "idempotency_conflict", s.message());
    case Status::Code::kHeld: return Error(409, "legal_hold", s.message());
    case Status::Code::kReadOnly:
    case Status::Code::kIOError: return Error(503, "read_only", s.message());
    case Status::Code::kBusy:
    case Status::Code::kShutdown: return Error(503, "unavailable", s.message());
    case Status::Code::kTimedOut: return Error(503, "timed_out", s.message());
    case Status::Code::kCorruption: return Error(500, "corruption", s.message());
  }
  return Error(500, "internal", s.message());
}

bool RoleAllows(Role have, Role need) {
  if (have == Role::kAdmin) return true;
  switch (need) {
    case Role::kNone: return true;
    case Role::kViewer: return have != Role::kNone;
    case Role::kOperator: return have == Role::kOperator;
    case Role::kAdmin: return false;
    case Role::kAuditor: return have == Role::kAuditor || have == Role::kCompliance;
    case Role::kCompliance: return have == Role::kCompliance;
  }
  return false;
}

bool PercentDecode(std::string_view in, std::string* out, bool plus_is_space) {
  out->clear();
  out->reserve(in.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%') {
      if (i + 2 >= in.size()) return false;
      const int hi = hex(in[i + 1]);
      const int lo = hex(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out->push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (in[i] == '+' && plus_is_space) {
      out->push_back(' ');
    } else {
      out->push_back(in[i]);
    }
  }
  return true;
}

bool ParseQuery(std::string_view q, std::map<std::string, std::string>* out) {
  while (!q.empty()) {
    const size_t amp = q.find('&');
    std::string_view part = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
    if (part.empty()) continue;
    const size_t eq = part.find('=');
    std::string k, v;
    if (!PercentDecode(part.substr(0, eq), &k, true)) return false;
    if (eq != std::string_view::npos && !PercentDecode(part.substr(eq + 1), &v, true)) return false;
    (*out)[k] = v;
  }
  return true;
}

}  // namespace logbook::api
