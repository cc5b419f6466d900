#include "api/graph_routes.h"

#include <pthread.h>
#include <sodium.h>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include "api/core_routes.h"
#include "api/route_util.h"

namespace logbook::api {

namespace {

using nlohmann::json;

// A fixed pool of threads running handler bodies. Destroyed (joined) with
// the router, after the server has drained its requests.
class WorkPool {
 public:
  explicit WorkPool(int n) {
    for (int i = 0; i < std::max(1, n); ++i) {
      threads_.emplace_back([this] {
        pthread_setname_np(pthread_self(), "lb-graph");
        Run();
      });
    }
  }
  ~WorkPool() {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  void Post(std::function<void()> fn) {
    {
      std::lock_guard<std::mutex> l(mu_);
      q_.push_back(std::move(fn));
    }
    cv_.notify_one();
  }

 private:
  void Run() {
    std::unique_lock<std::mutex> l(mu_);
    for (;;) {
      cv_.wait(l, [&] { return stop_ || !q_.empty(); });
      if (q_.empty()) return;  // stopping and drained
      auto fn = std::move(q_.front());
      q_.pop_front();
      l.unlock();
      fn();
      l.lock();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> q_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

// A request's bad input: 400 with a message.
struct BadRequest {
  std::string message;
};

std::string Base64(std::string_view bytes) {
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(std::strlen(out.c_str()));
  return out;
}

std::string FromBase64(const std::string& text, const std::string& where) {
  std::string out(text.size() / 4 * 3 + 3, '\0');
  size_t len = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(),
                        text.size(), nullptr, &len, nullptr, sodium_base64_VARIANT_ORIGINAL) != 0) {
    throw BadRequest{where + ".data is not base64"};
  }
  out.resize(len);
  return out;
}

const json& Field(const json& j, const char* name, const std::string& where) {
  auto it = j.find(name);
  if (it == j.end()) throw BadRequest{where + name + " is required"};
  return *it;
}

std::string Str(const json& j, const char* name, const std::string& where, bool required = true) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) {
    if (required) throw BadRequest{where + name + " is required"};
    return "";
  }
  if (!it->is_string()) throw BadRequest{where + name + " must be a string"};
  return it->get<std::string>();
}

GraphValue Value(const json& v, const std::string& where) {
  if (!v.is_object()) throw BadRequest{where + " must be an object {type, data}"};
  GraphValue out;
  out.type = Str(v, "type", where + ".");
  out.data = FromBase64(Str(v, "data", where + "."), where);
  return out;
}

json ValueJson(const GraphValue& v) { return json{{"type", v.type}, {"data", Base64(v.data)}}; }

json Parse(const std::string& body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw BadRequest{"body is not valid JSON"};
  if (!j.is_object()) throw BadRequest{"body must be a JSON object"};
  return j;
}

// A channel version as canonical JSON text: LangGraph versions are numbers
// or strings, and the text tells them apart.
std::string VersionText(const json& v, const std::string& where) {
  if (!v.is_number() && !v.is_string()) throw BadRequest{where + " must be a number or a string"};
  return v.dump();
}

GraphPut ParsePut(const std::string& body) {
  json j = Parse(body);
  GraphPut p;
  p.thread_id = Str(j, "thread_id", "");
  p.checkpoint_ns = Str(j, "checkpoint_ns", "", false);
  p.checkpoint_id = Str(j, "checkpoint_id", "");
  p.parent_id = Str(j, "parent_checkpoint_id", "", false);
  p.checkpoint = Value(Field(j, "checkpoint", ""), "checkpoint");
  const json& md = Field(j, "metadata", "");
  if (!md.is_object()) throw BadRequest{"metadata must be a JSON object"};
  p.metadata_json = md.dump(-1, ' ', false, json::error_handler_t::replace);
  if (auto it = j.find("channel_versions"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) throw BadRequest{"channel_versions must be an object"};
    for (auto c = it->begin(); c != it->end(); ++c) {
      p.channel_versions.emplace_back(c.key(), VersionText(c.value(), "channel_versions." + c.key()));
    }
  }
  json new_versions = json::object();
  if (auto it = j.find("new_versions"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) throw BadRequest{"new_versions must be an object"};
    new_versions = *it;
  }
  p.new_versions_json = new_versions.dump();
  if (auto it = j.find("channel_values"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) throw BadRequest{"channel_values must be an object"};
    for (auto c = it->begin(); c != it->end(); ++c) {
      // A value is stored under the version new_versions gives its channel.
      auto v = new_versions.find(c.key());
      if (v == new_versions.end()) {
        throw BadRequest{"channel_values." + c.key() + " has no entry in new_versions"};
      }
      p.values.push_back({c.key(), VersionText(*v, "new_versions." + c.key()),
                          Value(c.value(), "channel_values." + c.key())});
    }
  }
  if (auto it = j.find("ttl_seconds"); it != j.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<int64_t>() < -1) {
      throw BadRequest{"ttl_seconds must be an integer >= -1"};
    }
    p.ttl_seconds = it->get<int64_t>();
  }
  return p;
}

GraphPutWrites ParseWrites(const std::string& body) {
  json j = Parse(body);
  GraphPutWrites w;
  w.thread_id = Str(j, "thread_id", "");
  w.checkpoint_ns = Str(j, "checkpoint_ns", "", false);
  w.checkpoint_id = Str(j, "checkpoint_id", "");
  w.task_id = Str(j, "task_id", "");
  w.task_path = Str(j, "task_path", "", false);
  const json& writes = Field(j, "writes", "");
  if (!writes.is_array()) throw BadRequest{"writes must be an array"};
  for (size_t i = 0; i < writes.size(); ++i) {
    const std::string where = "writes[" + std::to_string(i) + "]";
    const json& x = writes[i];
    if (!x.is_object()) throw BadRequest{where + " must be an object"};
    GraphPutWrites::Write wr;
    wr.channel = Str(x, "channel", where + ".");
    const json& idx = Field(x, "idx", where + ".");
    if (!idx.is_number_integer() || idx.get<int64_t>() < INT32_MIN || idx.get<int64_t>() > INT32_MAX) {
      throw BadRequest{where + ".idx must be a 32-bit integer"};
    }
    wr.idx = static_cast<int32_t>(idx.get<int64_t>());
    wr.value = Value(x, where);
    w.writes.push_back(std::move(wr));
  }
  return w;
}

std::string TupleJson(const GraphTuple& t) {
  json values = json::object();
  for (const auto& [ch, v] : t.channel_values) values[ch] = ValueJson(v);
  json writes = json::array();
  for (const auto& w : t.pending_writes) {
    json x = ValueJson(w.value);
    x["task_id"] = w.task_id;
    x["channel"] = w.channel;
    x["task_path"] = w.task_path;
    x["idx"] = w.idx;
    writes.push_back(std::move(x));
  }
  json versions = json::object();
  for (const auto& [ch, v] : t.channel_versions) {
    json parsed = json::parse(v, nullptr, false);
    versions[ch] = parsed.is_discarded() ? json(v) : std::move(parsed);
  }
  json metadata = json::parse(t.metadata_json, nullptr, false);
  if (metadata.is_discarded()) metadata = json::object();
  json out{{"thread_id", t.thread_id},
           {"checkpoint_ns", t.checkpoint_ns},
           {"checkpoint_id", t.checkpoint_id},
           {"parent_checkpoint_id", t.parent_id.empty() ? json(nullptr) : json(t.parent_id)},
           {"checkpoint", ValueJson(t.checkpoint)},
           {"metadata", std::move(metadata)},
           {"channel_versions", std::move(versions)},
           {"channel_values", std::move(values)},
           {"pending_writes", std::move(writes)}};
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string Query(const Request& req, const std::string& name) {
  auto it = req.query.find(name);
  return it == req.query.end() ? std::string() : it->second;
}

// Runs `fn` on the pool, turning BadRequest into 400 and anything thrown
// into 500.
Handler Pooled(std::shared_ptr<WorkPool> pool, std::function<Response(Request&)> fn) {
  return [pool, fn = std::move(fn)](Request& req, Reply reply) {
    auto r = std::make_shared<Request>(std::move(req));
    pool->Post([r, fn, reply] {
      try {
        reply(fn(*r));
      } catch (const BadRequest& e) {
        reply(Response::Error(400, "bad_request", e.message));
      } catch (const std::exception& e) {
        spdlog::error("graph route {} threw: {}", r->path, e.what());
        reply(Response::Error(500, "internal", "internal error"));
      }
    });
  };
}


}  // namespace

void AddGraphRoutes(Router& router, const GraphRouteDeps& deps) {
  GraphStore* store = deps.store;
  auto pool = std::make_shared<WorkPool>(deps.threads);

  router.Add("POST", "/v1/graph/checkpoints", Role::kOperator,
             Pooled(pool, [store](Request& req) {
               GraphPut p = ParsePut(req.body);
               Result<uint64_t> lsn = store->Put(req.caller.tenant, ActorOf(req), p);
               if (!lsn.ok()) return Response::FromStatus(lsn.status());
               return Response::Json(200, {{"thread_id", p.thread_id},
                                           {"checkpoint_ns", p.checkpoint_ns},
                                           {"checkpoint_id", p.checkpoint_id},
                                           {"lsn", *lsn}});
             }));

  router.Add("POST", "/v1/graph/writes", Role::kOperator, Pooled(pool, [store](Request& req) {
               GraphPutWrites w = ParseWrites(req.body);
               Result<uint64_t> lsn = store->PutWrites(req.caller.tenant, ActorOf(req), w);
               if (!lsn.ok()) return Response::FromStatus(lsn.status());
               return Response::Json(200, {{"lsn", *lsn}, {"writes", w.writes.size()}});
             }));

  router.Add("GET", "/v1/graph/checkpoint", Role::kViewer, Pooled(pool, [store](Request& req) {
               const std::string thread = Query(req, "thread_id");
               if (thread.empty()) throw BadRequest{"query parameter thread_id is required"};
               Result<std::optional<GraphTuple>> t =
                   store->GetTuple(req.caller.tenant, thread, Query(req, "checkpoint_ns"),
                                   Query(req, "checkpoint_id"));
               if (!t.ok()) return Response::FromStatus(t.status());
               if (!t->has_value()) {
                 return Response::Error(404, "not_found", "no such checkpoint");
               }
               return Response::Raw(200, TupleJson(**t));
             }));

  router.Add("GET", "/v1/graph/checkpoints", Role::kViewer, Pooled(pool, [store](Request& req) {
               GraphListQuery q;
               if (req.query.count("thread_id") > 0) q.thread_id = Query(req, "thread_id");
               if (req.query.count("checkpoint_ns") > 0) q.checkpoint_ns = Query(req, "checkpoint_ns");
               q.before = Query(req, "before");
               q.cursor = Query(req, "cursor");
               uint64_t limit = kDefaultPageSize;
               Response err;
               if (!QueryU64(req, "limit", &limit, &err)) return err;
               if (limit == 0 || limit > kMaxPageSize) {
                 throw BadRequest{"limit must be 1.." + std::to_string(kMaxPageSize)};
               }
               q.limit = static_cast<size_t>(limit);
               if (const std::string f = Query(req, "filter"); !f.empty()) {
                 q.filter = json::parse(f, nullptr, false);
                 if (q.filter.is_discarded() || !q.filter.is_object()) {
                   throw BadRequest{"filter must be a JSON object"};
                 }
               }
               Result<GraphListPage> page = store->List(req.caller.tenant, q);
               if (!page.ok()) return Response::FromStatus(page.status());
               std::string body = "{\"checkpoints\":[";
               for (size_t i = 0; i < page->tuples.size(); ++i) {
                 if (i > 0) body.push_back(',');
                 body += TupleJson(page->tuples[i]);
               }
               body += "],\"next_cursor\":";
               body += page->next_cursor.empty() ? "null" : "\"" + page->next_cursor + "\"";
               body += "}";
               return Response::Raw(200, std::move(body));
             }));

  router.Add("DELETE", "/v1/graph/threads", Role::kOperator, Pooled(pool, [store](Request& req) {
               const std::string thread = Query(req, "thread_id");
               if (thread.empty()) throw BadRequest{"query parameter thread_id is required"};
               Result<bool> d = store->DeleteThread(req.caller.tenant, ActorOf(req), thread);
               if (!d.ok()) return Response::FromStatus(d.status());
               return Response::Json(200, {{"thread_id", thread}, {"deleted", *d}});
             }));

  router.Add("POST", "/v1/graph/threads/prune", Role::kOperator,
             Pooled(pool, [store](Request& req) {
               json j = Parse(req.body);
               const std::string thread = Str(j, "thread_id", "");
               const json& keep = Field(j, "keep_latest", "");
               if (!keep.is_number_unsigned() || keep.get<uint64_t>() == 0 ||
                   keep.get<uint64_t>() > UINT32_MAX) {
                 throw BadRequest{"keep_latest must be a positive integer"};
               }
               std::optional<std::string> ns;
               if (j.contains("checkpoint_ns")) ns = Str(j, "checkpoint_ns", "");
               Result<uint64_t> n = store->Prune(req.caller.tenant, ActorOf(req), thread, ns,
                                                 static_cast<uint32_t>(keep.get<uint64_t>()));
               if (!n.ok()) return Response::FromStatus(n.status());
               return Response::Json(200, {{"thread_id", thread}, {"pruned", *n}});
             }));

  router.Add("GET", "/v1/graph/stats", Role::kAdmin, Pooled(pool, [store](Request&) {
               Result<json> s = store->Stats();
               if (!s.ok()) return Response::FromStatus(s.status());
               return Response::Json(200, *s);
             }));

  router.Add("POST", "/v1/graph/sweep", Role::kAdmin, Pooled(pool, [store](Request&) {
               Result<GraphSweepReport> r = store->SweepNow();
               if (!r.ok()) return Response::FromStatus(r.status());
               return Response::Json(200, {{"threads_expired", r->threads_expired},
                                           {"checkpoints_pruned", r->checkpoints_pruned},
                                           {"chunks_deleted", r->chunks.chunks_deleted},
                                           {"bytes_deleted", r->chunks.bytes_deleted},
                                           {"chunks_kept", r->chunks.chunks_kept}});
             }));
}

}  // namespace logbook::api
