#include "api/core_routes.h"

#include "log/record.h"

namespace logbook::api {

bool CanSeeTenant(const Caller& c, std::string_view tenant) {
  // A tenant-scoped key sees its tenant only; an all-tenant key sees the
  // tenant it selected with X-Tenant-ID, or every tenant when it selected none.
  if (!c.key_tenant.empty()) return tenant == c.key_tenant;
  return c.tenant.empty() || tenant == c.tenant;
}

bool QueryU64(const Request& req, const std::string& name, uint64_t* out, Response* err) {
  auto it = req.query.find(name);
  if (it == req.query.end()) return true;
  const std::string& v = it->second;
  if (v.empty() || v.size() > 19 || v.find_first_not_of("0123456789") != std::string::npos) {
    *err = Response::Error(400, "bad_request", "query parameter '" + name + "' must be a number");
    return false;
  }
  *out = std::stoull(v);
  return true;
}

namespace {

// A scanner over JSON text that a full parser already accepted: it only
// skips values and finds where they are, so it need not diagnose anything.
// On anything unexpected it gives up (returns false) and the caller falls
// back to the parsed document.
class RawJsonScanner {
 public:
  explicit RawJsonScanner(std::string_view text) : t_(text) {}

  // Records in *payloads the raw text of events[i].payload for each element
  // of the top-level "events" array (empty when an element has none).
  bool EventPayloads(std::vector<std::string_view>* payloads) {
    return Object([&](std::string_view key) {
      if (key != "events") return SkipValue();
      payloads->clear();  // a repeated key: the last one wins, as in the parser
      return Array([&] {
        std::string_view payload;
        if (!Object([&](std::string_view k) {
              if (k != "payload") return SkipValue();
              const size_t start = Ws();
              if (!SkipValue()) return false;
              payload = t_.substr(start, i_ - start);
              return true;
            })) {
          return false;
        }
        payloads->push_back(payload);
        return true;
      });
    });
  }

 private:
  size_t Ws() {
    while (i_ < t_.size() && (t_[i_] == ' ' || t_[i_] == '\t' || t_[i_] == '\n' || t_[i_] == '\r')) ++i_;
    return i_;
  }
  bool Peek(char c) { return Ws() < t_.size() && t_[i_] == c; }
  // A string; *raw gets its contents, false if it holds escapes (a key with
  // escapes is left to the full parser).
  bool String(std::string_view* raw) {
    if (!Peek('"')) return false;
    const size_t start = ++i_;
    bool escaped = false;
    while (i_ < t_.size() && t_[i_] != '"') {
      if (t_[i_] == '\\') {
        escaped = true;
        ++i_;
      }
      ++i_;
    }
    if (i_ >= t_.size()) return false;
    if (raw != nullptr) {
      if (escaped) return false;
      *raw = t_.substr(start, i_ - start);
    }
    ++i_;
    return true;
  }
  template <typename F>
  bool Object(F&& member) {
    if (!Peek('{')) return false;
    ++i_;
    if (Peek('}')) return ++i_, true;
    for (;;) {
      std::string_view key;
      if (!String(&key) || !Peek(':')) return false;
      ++i_;
      if (!member(key)) return false;
      if (Peek(',')) {
        ++i_;
        continue;
      }
      if (!Peek('}')) return false;
      return ++i_, true;
    }
  }
  template <typename F>
  bool Array(F&& element) {
    if (!Peek('[')) return false;
    ++i_;
    if (Peek(']')) return ++i_, true;
    for (;;) {
      if (!element()) return false;
      if (Peek(',')) {
        ++i_;
        continue;
      }
      if (!Peek(']')) return false;
      return ++i_, true;
    }
  }
  bool SkipValue() {
    if (Ws() >= t_.size()) return false;
    switch (t_[i_]) {
      case '{':
        return Object([&](std::string_view) { return SkipValue(); });
      case '[':
        return Array([&] { return SkipValue(); });
      case '"':
        return String(nullptr);
      default:  // number, true, false, null
        while (i_ < t_.size() && t_[i_] != ',' && t_[i_] != '}' && t_[i_] != ']' &&
               t_[i_] != ' ' && t_[i_] != '\t' && t_[i_] != '\n' && t_[i_] != '\r') {
          ++i_;
        }
        return true;
    }
  }

  std::string_view t_;
  size_t i_ = 0;
};

// Parses the body of POST /v1/streams/{stream}/events. 400 for malformed JSON
// or wrong JSON types; the engine then checks types and payloads (422).
bool ParseAppendBody(const std::string& body, ExpectedVersion* ev, std::vector<EventInput>* events,
                     Response* err) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  auto bad = [&](const std::string& msg) {
    *err = Response::Error(400, "bad_request", msg);
    return false;
  };
  if (j.is_discarded()) return bad("body is not valid JSON");
  if (!j.is_object()) return bad("body must be a JSON object");
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() != "events" && it.key() != "expected_version") {
      return bad("unknown field '" + it.key() + "' (expected events, expected_version)");
    }
  }
  *ev = ExpectedVersion::Any();
  if (j.contains("expected_version")) {
    const auto& e = j["expected_version"];
    if (e.is_string() && e == "any") {
      *ev = ExpectedVersion::Any();
    } else if (e.is_string() && e == "no_stream") {
      *ev = ExpectedVersion::NoStream();
    } else if (e.is_number_unsigned()) {
      *ev = ExpectedVersion::Exact(e.get<uint64_t>());
    } else {
      return bad("expected_version must be \"any\", \"no_stream\" or a non-negative integer");
    }
  }
  if (!j.contains("events") || !j["events"].is_array()) return bad("events must be an array");
  if (j["events"].empty()) return bad("events must not be empty");
  // Payloads go to the payload codec as the client's own text, not as a
  // re-serialisation of the parsed document (which cost as much as parsing).
  std::vector<std::string_view> raw_payloads;
  if (!RawJsonScanner(body).EventPayloads(&raw_payloads) ||
      raw_payloads.size() != j["events"].size()) {
    raw_payloads.clear();
  }
  size_t i = 0;
  for (const auto& e : j["events"]) {
    ++i;
    const std::string where = "events[" + std::to_string(i - 1) + "]: ";
    if (!e.is_object()) return bad(where + "must be an object");
    for (auto it = e.begin(); it != e.end(); ++it) {
      if (it.key() != "type" && it.key() != "event_id" && it.key() != "payload") {
        return bad(where + "unknown field '" + it.key() + "'");
      }
    }
    if (!e.contains("type") || !e["type"].is_string()) return bad(where + "type must be a string");
    EventInput in;
    in.type = e["type"].get<std::string>();
    if (e.contains("event_id")) {
      if (!e["event_id"].is_string()) return bad(where + "event_id must be a string");
      in.event_id = e["event_id"].get<std::string>();
    }
    if (e.contains("payload")) {
      if (!e["payload"].is_object()) return bad(where + "payload must be an object");
      in.payload_json = raw_payloads.empty() || raw_payloads[i - 1].empty()
                            ? e["payload"].dump()
                            : std::string(raw_payloads[i - 1]);
    }
    events->push_back(std::move(in));
  }
  return true;
}

// The 201 body, written as text (keys in the order nlohmann::json would
// print them). Stream names are checked to hold no character that JSON
// escapes (ValidateStreamName), event ids are hex and dashes.
std::string AppendResultText(const std::string& stream, const AppendResult& r) {
  std::string out;
  out.reserve(160 + stream.size() + 39 * r.event_ids.size());
  out += "{\"deduplicated\":";
  out += r.deduplicated ? "true" : "false";
  out += ",\"event_ids\":[";
  for (size_t i = 0; i < r.event_ids.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    out += EventIdToString(r.event_ids[i]);
    out += '"';
  }
  out += "],\"first_lsn\":" + std::to_string(r.first_lsn);
  out += ",\"first_version\":" + std::to_string(r.first_version);
  out += ",\"last_lsn\":" + std::to_string(r.last_lsn);
  out += ",\"stream\":\"" + stream + '"';
  out += ",\"version\":" + std::to_string(r.last_version) + '}';
  return out;
}

// 404 unless the stream exists and the caller may see its tenant: a stream
// of another tenant looks exactly like a missing one.
Result<StreamHead> VisibleHead(Engine& engine, const Caller& c, const std::string& stream) {
  Result<StreamHead> head = engine.log().GetStreamHead(stream);
  if (!head.ok()) return head.status();
  if (!CanSeeTenant(c, head->tenant)) {
    return Status::NotFound("stream '" + stream + "' not found");
  }
  return head;
}

}  // namespace

void AddCoreRoutes(Router& router, const CoreRouteDeps& deps) {
  Engine* engine = deps.engine;

  router.Add("POST", "/v1/streams/{stream...}/events", Role::kOperator,
             [engine](Request& req, Reply reply) {
               const std::string stream = req.params["stream"];
               if (Status s = ValidateStreamName(stream); !s.ok()) {
                 return reply(Response::Error(400, "bad_request", s.message()));
               }
               ExpectedVersion ev;
               std::vector<EventInput> events;
               Response err;
               if (!ParseAppendBody(req.body, &ev, &events, &err)) return reply(err);
               // A stream belongs to one tenant; the log refuses an append with
               // another tenant as "not found", so a tenant key needs no lookup
               // here. An all-tenant key that named no tenant appends as the
               // stream's tenant.
               std::string tenant = req.caller.tenant;
               if (req.caller.key_tenant.empty() && req.caller.tenant.empty()) {
                 Result<StreamHead> head = engine->log().GetStreamHead(stream);
                 if (head.ok()) tenant = head->tenant;
               }
               Actor actor{req.caller.key_id, req.caller.role};
               engine->AppendJsonAsync(stream, tenant, actor, ev, events,
                                       [reply, stream](Result<AppendResult> r) {
                                         if (!r.ok()) return reply(Response::FromStatus(r.status()));
                                         reply(Response::Raw(201, AppendResultText(stream, *r)));
                                       });
             });

  router.Add("GET", "/v1/streams/{stream...}/events", Role::kViewer,
             [engine](Request& req, Reply reply) {
               const std::string stream = req.params["stream"];
               if (Status s = ValidateStreamName(stream); !s.ok()) {
                 return reply(Response::Error(400, "bad_request", s.message()));
               }
               uint64_t from = 1;
               uint64_t limit = kDefaultPageSize;
               Response err;
               if (!QueryU64(req, "from_version", &from, &err) ||
                   !QueryU64(req, "limit", &limit, &err)) {
                 return reply(err);
               }
               if (limit == 0 || limit > kMaxPageSize) {
                 return reply(Response::Error(400, "bad_request",
                                              "limit must be 1.." + std::to_string(kMaxPageSize)));
               }
               Result<StreamHead> head = VisibleHead(*engine, req.caller, stream);
               if (!head.ok()) return reply(Response::FromStatus(head.status()));
               Result<std::vector<Event>> events =
                   engine->log().ReadStream(stream, from, static_cast<size_t>(limit));
               if (!events.ok()) return reply(Response::FromStatus(events.status()));
               // The body is assembled as text: events are already JSON.
               std::string body = "{\"stream\":" + nlohmann::json(stream).dump() +
                                  ",\"version\":" + std::to_string(head->version) +
                                  ",\"events\":[";
               for (size_t i = 0; i < events->size(); ++i) {
                 if (i > 0) body.push_back(',');
                 body += Engine::EventToJsonText((*events)[i]);
               }
               const bool more =
                   !events->empty() && events->back().stream_version < head->version;
               body += "],\"next_version\":" +
                       (more ? std::to_string(events->back().stream_version + 1) : "null") + "}";
               reply(Response::Raw(200, std::move(body)));
             });

  router.Add("GET", "/v1/events", Role::kViewer, [engine](Request& req, Reply reply) {
    uint64_t from = 1;
    uint64_t limit = kDefaultPageSize;
    Response err;
    if (!QueryU64(req, "from_lsn", &from, &err) || !QueryU64(req, "limit", &limit, &err)) {
      return reply(err);
    }
    if (limit == 0 || limit > kMaxPageSize) {
      return reply(Response::Error(400, "bad_request",
                                   "limit must be 1.." + std::to_string(kMaxPageSize)));
    }
    // Other tenants' events are skipped, not counted: scan a bounded window.
    std::string events_text;
    size_t n = 0;
    uint64_t next = std::max<uint64_t>(from, 1);
    const uint64_t last = engine->log().LastLsn();
    size_t scanned = 0;
    while (n < limit && next <= last && scanned < 10 * kMaxPageSize) {
      Result<std::vector<Event>> batch = engine->log().ReadAll(next, static_cast<size_t>(limit));
      if (!batch.ok()) return reply(Response::FromStatus(batch.status()));
      if (batch->empty()) break;
      for (const Event& e : *batch) {
        next = e.lsn + 1;
        ++scanned;
        if (!CanSeeTenant(req.caller, e.tenant)) continue;
        if (n++ > 0) events_text.push_back(',');
        events_text += Engine::EventToJsonText(e);
        if (n >= limit) break;
      }
    }
    reply(Response::Raw(200, "{\"events\":[" + events_text + "],\"next_lsn\":" +
                                 std::to_string(next) + ",\"last_lsn\":" + std::to_string(last) +
                                 "}"));
  });

  router.AddPublic("GET", "/healthz", [](Request&, Reply reply) {
    reply(Response::Json(200, {{"status", "ok"}}));
  });
  router.AddPublic("GET", "/readyz", [engine, ready = deps.ready](Request&, Reply reply) {
    Status health = engine->log().health();
    if (!health.ok()) return reply(Response::Error(503, "read_only", health.message()));
    if (!ready()) return reply(Response::Error(503, "not_ready", "recovering or shutting down"));
    reply(Response::Json(200, {{"ready", true}, {"last_lsn", engine->log().LastLsn()}}));
  });
  router.AddPublic("GET", "/metrics", [render = deps.render_metrics](Request&, Reply reply) {
    Response r;
    r.content_type = "text/plain; version=0.0.4";
    r.body = render();
    reply(std::move(r));
  });
}

}  // namespace logbook::api
