#include "engine/graph_store.h"

#include <pthread.h>
#include <sodium.h>
#include <spdlog/spdlog.h>

#include <unordered_set>

#include "projections/graph_checkpoints.h"
#include "projections/view_store.h"
#include "schemas/events_generated.h"

namespace logbook {

namespace {

using P = GraphCheckpointsProjection;
using FbBuilder = flatbuffers::FlatBufferBuilder;

constexpr size_t kMaxIdBytes = 1024;

Status CheckId(std::string_view what, std::string_view v, bool allow_empty) {
  if (!allow_empty && v.empty()) return Status::InvalidArgument(std::string(what) + " is required");
  if (v.size() > kMaxIdBytes) {
    return Status::InvalidArgument(std::string(what) + " is longer than " +
                                   std::to_string(kMaxIdBytes) + " bytes");
  }
  if (!P::KeySafe(v)) return Status::InvalidArgument(std::string(what) + " contains a NUL byte");
  return Status::OK();
}

flatbuffers::Offset<fb::GraphBlob> BlobToFb(FbBuilder& fbb, const BlobRef& b) {
  auto type = fbb.CreateString(b.type);
  auto refs = fbb.CreateVector(reinterpret_cast<const uint8_t*>(b.refs.data()), b.refs.size());
  fb::GraphBlobBuilder bb(fbb);
  bb.add_type(type);
  bb.add_size(b.size);
  bb.add_levels(b.levels);
  bb.add_refs(refs);
  return bb.Finish();
}

std::string Finish(FbBuilder& fbb) {
  return std::string(reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize());
}

bool IsStreamSafeThread(const std::string& thread) {
  if (thread.empty() || thread.front() == '/') return false;
  for (char c : thread) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == ':' || c == '/' || c == '@' || c == '=' ||
                    c == '+' || c == '-';
    if (!ok) return false;  // '$' included: it marks hashed ids
  }
  return true;
}

// True when metadata (a JSON object's text) has every key of `filter` with
// an equal value.
bool MatchesFilter(const std::string& metadata_json, const nlohmann::json& filter) {
  if (!filter.is_object() || filter.empty()) return true;
  nlohmann::json m = nlohmann::json::parse(metadata_json, nullptr, false);
  if (m.is_discarded() || !m.is_object()) return false;
  for (auto it = filter.begin(); it != filter.end(); ++it) {
    auto f = m.find(it.key());
    if (f == m.end() || *f != it.value()) return false;
  }
  return true;
}

std::string Hex(std::string_view bytes) {
  std::string h(bytes.size() * 2 + 1, '\0');
  sodium_bin2hex(h.data(), h.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                 bytes.size());
  h.pop_back();
  return h;
}

bool Unhex(std::string_view hex, std::string* out) {
  out->assign(hex.size() / 2, '\0');
  size_t len = 0;
  if (hex.size() % 2 != 0 ||
      sodium_hex2bin(reinterpret_cast<unsigned char*>(out->data()), out->size(), hex.data(),
                     hex.size(), nullptr, &len, nullptr) != 0) {
    return false;
  }
  out->resize(len);
  return true;
}

}  // namespace

std::string GraphStore::ThreadStream(const std::string& tenant, const std::string& thread) {
  const std::string base = "graph/" + tenant + "/";
  if (IsStreamSafeThread(thread) && base.size() + thread.size() <= kMaxStreamName) {
    return base + thread;
  }
  unsigned char h[16];
  crypto_generichash(h, sizeof(h), reinterpret_cast<const unsigned char*>(thread.data()),
                     thread.size(), nullptr, 0);
  return base + "$" + Hex(std::string_view(reinterpret_cast<const char*>(h), sizeof(h)));
}

GraphStore::GraphStore(Engine& engine, GraphOptions options)
    : engine_(engine),
      options_(std::move(options)),
      chunks_(engine.log().db(), engine.log().chunks_cf(), engine.keyring()) {}

GraphStore::~GraphStore() { Stop(); }

void GraphStore::Start() {
  std::lock_guard<std::mutex> l(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "lb-graph-sweep");
    Loop();
  });
}

void GraphStore::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void GraphStore::Loop() {
  std::unique_lock<std::mutex> l(mu_);
  while (!cv_.wait_for(l, options_.sweep_interval, [&] { return stop_; })) {
    l.unlock();
    Result<GraphSweepReport> r = Sweep(/*force_chunks=*/false);
    if (!r.ok()) {
      spdlog::warn("graph sweep failed: {}", r.status().ToString());
    } else if (r->threads_expired + r->checkpoints_pruned + r->chunks.chunks_deleted > 0) {
      spdlog::info("graph sweep: {} thread(s) expired, {} checkpoint(s) pruned, {} chunk(s) "
                   "({} bytes) deleted",
                   r->threads_expired, r->checkpoints_pruned, r->chunks.chunks_deleted,
                   r->chunks.bytes_deleted);
    }
    l.lock();
  }
}

Result<uint64_t> GraphStore::AppendAndWait(const std::string& stream, const std::string& tenant,
                                           const Actor& actor, ExpectedVersion expected,
                                           uint16_t type, std::string payload,
                                           ChunkStore::PinList* pins) {
  AppendRequest req;
  req.stream = stream;
  req.tenant = tenant;
  req.actor = actor;
  req.expected = expected;
  NewEvent ne;
  ne.type = type;
  ne.payload = std::move(payload);
  req.events.push_back(std::move(ne));
  Result<AppendResult> r = engine_.log().Append(std::move(req));
  if (!r.ok()) {
    if (pins != nullptr) {
      chunks_.Unpin(*pins);
      std::lock_guard<std::mutex> l(mu_);
      dirty_ = true;  // chunks written for nothing
    }
    return r.status();
  }
  const uint64_t lsn = r->last_lsn;
  Status s = engine_.WaitForViews(lsn, options_.view_timeout);
  if (pins != nullptr) {
    if (s.ok()) {
      chunks_.Unpin(*pins);
    } else {
      // Durable but not yet in the view: keep the chunks pinned until a
      // sweep sees the view past this LSN.
      std::lock_guard<std::mutex> l(mu_);
      deferred_pins_.emplace_back(lsn, std::move(*pins));
    }
  }
  if (!s.ok()) return s;
  return lsn;
}

Result<uint64_t> GraphStore::Put(const std::string& tenant, const Actor& actor,
                                 const GraphPut& put) {
  Status s = CheckId("thread_id", put.thread_id, false);
  if (s.ok()) s = CheckId("checkpoint_ns", put.checkpoint_ns, true);
  if (s.ok()) s = CheckId("checkpoint id", put.checkpoint_id, false);
  if (s.ok()) s = CheckId("parent checkpoint id", put.parent_id, true);
  for (const auto& [ch, v] : put.channel_versions) {
    if (s.ok()) s = CheckId("channel name", ch, false);
    if (s.ok()) s = CheckId("channel version", v, false);
  }
  for (const auto& v : put.values) {
    if (s.ok()) s = CheckId("channel name", v.channel, false);
    if (s.ok()) s = CheckId("channel version", v.version, false);
  }
  if (!s.ok()) return s;

  ChunkStore::PinList pins;
  FbBuilder fbb(1024);
  Result<BlobRef> body = chunks_.Write(tenant, put.checkpoint.type, put.checkpoint.data, &pins);
  if (!body.ok()) {
    chunks_.Unpin(pins);
    return body.status();
  }
  std::vector<flatbuffers::Offset<fb::GraphChannelValue>> values;
  for (const auto& v : put.values) {
    Result<BlobRef> ref = chunks_.Write(tenant, v.value.type, v.value.data, &pins);
    if (!ref.ok()) {
      chunks_.Unpin(pins);
      return ref.status();
    }
    auto blob = BlobToFb(fbb, *ref);
    auto ch = fbb.CreateString(v.channel);
    auto ver = fbb.CreateString(v.version);
    fb::GraphChannelValueBuilder b(fbb);
    b.add_channel(ch);
    b.add_version(ver);
    b.add_value(blob);
    values.push_back(b.Finish());
  }
  std::vector<flatbuffers::Offset<fb::GraphChannelVersion>> versions;
  for (const auto& [ch, v] : put.channel_versions) {
    auto cho = fbb.CreateString(ch);
    auto vo = fbb.CreateString(v);
    fb::GraphChannelVersionBuilder b(fbb);
    b.add_channel(cho);
    b.add_version(vo);
    versions.push_back(b.Finish());
  }
  auto body_fb = BlobToFb(fbb, *body);
  auto values_fb = fbb.CreateVector(values);
  auto versions_fb = fbb.CreateVector(versions);
  auto thread = fbb.CreateString(put.thread_id);
  auto ns = fbb.CreateString(put.checkpoint_ns);
  auto id = fbb.CreateString(put.checkpoint_id);
  auto parent = fbb.CreateString(put.parent_id);
  auto metadata = fbb.CreateString(put.metadata_json);
  auto new_versions = fbb.CreateString(put.new_versions_json);
  fb::CheckpointSavedBuilder cb(fbb);
  cb.add_thread_id(thread);
  cb.add_checkpoint_ns(ns);
  cb.add_checkpoint_id(id);
  cb.add_parent_id(parent);
  cb.add_metadata_json(metadata);
  cb.add_new_versions_json(new_versions);
  cb.add_saved_at_us(NowMicros());
  cb.add_checkpoint(body_fb);
  cb.add_channel_versions(versions_fb);
  cb.add_values(values_fb);
  cb.add_ttl_seconds(put.ttl_seconds);
  fbb.Finish(cb.Finish());
  return AppendAndWait(ThreadStream(tenant, put.thread_id), tenant, actor, ExpectedVersion::Any(),
                       static_cast<uint16_t>(fb::EventType::CheckpointSaved), Finish(fbb), &pins);
}

Result<uint64_t> GraphStore::PutWrites(const std::string& tenant, const Actor& actor,
                                       const GraphPutWrites& w) {
  Status s = CheckId("thread_id", w.thread_id, false);
  if (s.ok()) s = CheckId("checkpoint_ns", w.checkpoint_ns, true);
  if (s.ok()) s = CheckId("checkpoint_id", w.checkpoint_id, false);
  if (s.ok()) s = CheckId("task_id", w.task_id, false);
  if (s.ok()) s = CheckId("task_path", w.task_path, true);
  if (!s.ok()) return s;
  ChunkStore::PinList pins;
  FbBuilder fbb(512);
  std::vector<flatbuffers::Offset<fb::GraphWrite>> writes;
  for (const auto& wr : w.writes) {
    Result<BlobRef> ref = chunks_.Write(tenant, wr.value.type, wr.value.data, &pins);
    if (!ref.ok()) {
      chunks_.Unpin(pins);
      return ref.status();
    }
    auto blob = BlobToFb(fbb, *ref);
    auto ch = fbb.CreateString(wr.channel);
    fb::GraphWriteBuilder b(fbb);
    b.add_channel(ch);
    b.add_idx(wr.idx);
    b.add_value(blob);
    writes.push_back(b.Finish());
  }
  auto writes_fb = fbb.CreateVector(writes);
  auto thread = fbb.CreateString(w.thread_id);
  auto ns = fbb.CreateString(w.checkpoint_ns);
  auto id = fbb.CreateString(w.checkpoint_id);
  auto task = fbb.CreateString(w.task_id);
  auto path = fbb.CreateString(w.task_path);
  fb::WritesPutBuilder b(fbb);
  b.add_thread_id(thread);
  b.add_checkpoint_ns(ns);
  b.add_checkpoint_id(id);
  b.add_task_id(task);
  b.add_task_path(path);
  b.add_put_at_us(NowMicros());
  b.add_writes(writes_fb);
  fbb.Finish(b.Finish());
  return AppendAndWait(ThreadStream(tenant, w.thread_id), tenant, actor, ExpectedVersion::Any(),
                       static_cast<uint16_t>(fb::EventType::WritesPut), Finish(fbb), &pins);
}

Result<GraphTuple> GraphStore::BuildTuple(const std::string& tenant, const CheckpointRec& rec) {
  auto reader = NewRocksViewReader(engine_.log().db(), engine_.log().views_cf(), P::kName);
  GraphTuple t;
  t.thread_id = rec.thread_id;
  t.checkpoint_ns = rec.checkpoint_ns;
  t.checkpoint_id = rec.checkpoint_id;
  t.parent_id = rec.parent_id;
  t.metadata_json = rec.metadata_json.empty() ? "{}" : rec.metadata_json;
  if (rec.has_checkpoint_blob) {
    Result<std::string> body = chunks_.Read(tenant, rec.checkpoint);
    if (!body.ok()) return body.status();
    t.checkpoint = {rec.checkpoint.type, std::move(body).value()};
  } else {
    t.checkpoint = {"json", rec.checkpoint_json};
  }
  for (size_t i = 0; i < rec.read_refs && i < rec.channel_refs.size(); ++i) {
    const auto& [ch, ver] = rec.channel_refs[i];
    t.channel_versions.emplace_back(ch, ver);
    Result<std::optional<ChannelValueRec>> cv =
        P::GetChannelValue(*reader, tenant, rec.thread_id, rec.checkpoint_ns, ch, ver);
    if (!cv.ok()) return cv.status();
    if (!cv->has_value() || !(*cv)->has_value) continue;  // a version never stored
    Result<std::string> data = chunks_.Read(tenant, (*cv)->value);
    if (!data.ok()) return data.status();
    t.channel_values.emplace_back(ch, GraphValue{(*cv)->value.type, std::move(data).value()});
  }
  Result<std::vector<WriteRec>> writes =
      P::GetWrites(*reader, tenant, rec.thread_id, rec.checkpoint_ns, rec.checkpoint_id);
  if (!writes.ok()) return writes.status();
  for (const WriteRec& w : *writes) {
    Result<std::string> data = chunks_.Read(tenant, w.value);
    if (!data.ok()) return data.status();
    t.pending_writes.push_back(
        {w.task_id, w.channel, w.task_path, w.idx, GraphValue{w.value.type, std::move(data).value()}});
  }
  return t;
}

void GraphStore::Touch(const std::string& tenant, const std::string& thread) {
  if (!options_.refresh_ttl_on_read) return;
  std::lock_guard<std::mutex> l(mu_);
  touched_[{tenant, thread}] = NowMicros();
}

Result<std::optional<GraphTuple>> GraphStore::GetTuple(const std::string& tenant,
                                                       const std::string& thread,
                                                       const std::string& ns,
                                                       const std::string& checkpoint_id) {
  Status s = CheckId("thread_id", thread, false);
  if (s.ok()) s = CheckId("checkpoint_ns", ns, true);
  if (s.ok()) s = CheckId("checkpoint_id", checkpoint_id, true);
  if (!s.ok()) return s;
  auto reader = NewRocksViewReader(engine_.log().db(), engine_.log().views_cf(), P::kName);
  Result<std::optional<CheckpointRec>> rec =
      P::GetCheckpoint(*reader, tenant, thread, ns, checkpoint_id);
  if (!rec.ok()) return rec.status();
  if (!rec->has_value()) return std::optional<GraphTuple>();
  Result<GraphTuple> t = BuildTuple(tenant, **rec);
  if (!t.ok()) return t.status();
  Touch(tenant, thread);
  return std::optional<GraphTuple>(std::move(t).value());
}

Result<GraphListPage> GraphStore::List(const std::string& tenant, const GraphListQuery& q) {
  Status s;
  if (q.thread_id) s = CheckId("thread_id", *q.thread_id, false);
  if (s.ok() && q.checkpoint_ns) s = CheckId("checkpoint_ns", *q.checkpoint_ns, true);
  if (s.ok()) s = CheckId("before", q.before, true);
  if (!s.ok()) return s;
  std::string after;
  if (!q.cursor.empty() && !Unhex(q.cursor, &after)) {
    return Status::InvalidArgument("cursor is malformed");
  }
  auto reader = NewRocksViewReader(engine_.log().db(), engine_.log().views_cf(), P::kName);
  GraphListPage page;
  size_t bytes = 0;
  Status inner;
  s = P::ScanCheckpoints(*reader, tenant, q.thread_id, q.checkpoint_ns, after,
                         [&](std::string_view key, const CheckpointRec& rec) {
                           if (!q.before.empty() && rec.checkpoint_id >= q.before) return true;
                           if (!MatchesFilter(rec.metadata_json, q.filter)) return true;
                           Result<GraphTuple> t = BuildTuple(tenant, rec);
                           if (!t.ok()) {
                             inner = t.status();
                             return false;
                           }
                           bytes += t->checkpoint.data.size();
                           for (const auto& [ch, v] : t->channel_values) bytes += v.data.size();
                           for (const auto& w : t->pending_writes) bytes += w.value.data.size();
                           page.tuples.push_back(std::move(t).value());
                           if (page.tuples.size() >= q.limit || bytes >= q.max_bytes) {
                             page.next_cursor = Hex(key);
                             return false;
                           }
                           return true;
                         });
  if (!s.ok()) return s;
  if (!inner.ok()) return inner;
  if (q.thread_id) Touch(tenant, *q.thread_id);
  return page;
}

Result<bool> GraphStore::DeleteThreadGuarded(const std::string& tenant, const Actor& actor,
                                             const std::string& thread,
                                             std::optional<uint64_t> version,
                                             const std::string& reason) {
  FbBuilder fbb(128);
  auto th = fbb.CreateString(thread);
  auto by = fbb.CreateString(actor.id);
  auto why = fbb.CreateString(reason);
  fb::ThreadDeletedBuilder b(fbb);
  b.add_thread_id(th);
  b.add_deleted_at_us(NowMicros());
  b.add_by(by);
  b.add_reason(why);
  fbb.Finish(b.Finish());
  Result<uint64_t> lsn = AppendAndWait(
      ThreadStream(tenant, thread), tenant, actor,
      version ? ExpectedVersion::Exact(*version) : ExpectedVersion::Any(),
      static_cast<uint16_t>(fb::EventType::ThreadDeleted), Finish(fbb), nullptr);
  if (!lsn.ok()) return lsn.status();
  std::lock_guard<std::mutex> l(mu_);
  dirty_ = true;
  touched_.erase({tenant, thread});
  return true;
}

Result<bool> GraphStore::DeleteThread(const std::string& tenant, const Actor& actor,
                                      const std::string& thread) {
  Status s = CheckId("thread_id", thread, false);
  if (!s.ok()) return s;
  auto reader = NewRocksViewReader(engine_.log().db(), engine_.log().views_cf(), P::kName);
  Result<std::optional<ThreadRec>> t = P::GetThread(*reader, tenant, thread);
  if (!t.ok()) return t.status();
  if (!t->has_value()) return false;  // nothing stored (or deleted already)
  return DeleteThreadGuarded(tenant, actor, thread, std::nullopt, "api");
}

Result<uint64_t> GraphStore::Prune(const std::string& tenant, const Actor& actor,
                                   const std::string& thread, const std::optional<std::string>& ns,
                                   uint32_t keep_latest, const std::string& reason) {
  Status s = CheckId("thread_id", thread, false);
  if (s.ok() && ns) s = CheckId("checkpoint_ns", *ns, true);
  if (s.ok() && keep_latest == 0) s = Status::InvalidArgument("keep_latest must be at least 1");
  if (!s.ok()) return s;
  // The view must include everything the thread's stream has, so that the
  // version guard below speaks of what was read.
  s = engine_.WaitForViews(engine_.log().LastLsn(), options_.view_timeout);
  if (!s.ok()) return s;
  auto reader = NewRocksViewReader(engine_.log().db(), engine_.log().views_cf(), P::kName);
  Result<std::optional<ThreadRec>> t = P::GetThread(*reader, tenant, thread);
  if (!t.ok()) return t.status();
  if (!t->has_value()) return uint64_t{0};
  // Newest first within each namespace: everything past the first N goes.
  std::map<std::string, std::vector<std::string>> doomed;  // ns -> ids
  std::map<std::string, uint32_t> seen;
  s = P::ScanCheckpoints(*reader, tenant, thread, ns, "",
                         [&](std::string_view, const CheckpointRec& rec) {
                           if (++seen[rec.checkpoint_ns] > keep_latest) {
                             doomed[rec.checkpoint_ns].push_back(rec.checkpoint_id);
                           }
                           return true;
                         });
  if (!s.ok()) return s;
  uint64_t version = (*t)->stream_version;
  uint64_t pruned = 0;
  for (const auto& [space, ids] : doomed) {
    FbBuilder fbb(256);
    auto th = fbb.CreateString(thread);
    auto nso = fbb.CreateString(space);
    auto idso = fbb.CreateVectorOfStrings(ids);
    auto by = fbb.CreateString(actor.id);
    auto why = fbb.CreateString(reason);
    fb::CheckpointsPrunedBuilder b(fbb);
    b.add_thread_id(th);
    b.add_checkpoint_ns(nso);
    b.add_checkpoint_ids(idso);
    b.add_keep_latest(keep_latest);
    b.add_reason(why);
    b.add_pruned_at_us(NowMicros());
    b.add_by(by);
    fbb.Finish(b.Finish());
    Result<uint64_t> lsn = AppendAndWait(ThreadStream(tenant, thread), tenant, actor,
                                         ExpectedVersion::Exact(version),
                                         static_cast<uint16_t>(fb::EventType::CheckpointsPruned),
                                         Finish(fbb), nullptr);
    if (!lsn.ok()) return lsn.status();
    ++version;
    pruned += ids.size();
    std::lock_guard<std::mutex> l(mu_);
    dirty_ = true;
  }
  return pruned;
}

Status GraphStore::SweepChunks(SweepResult* out) {
  chunks_.BeginSweep();
  // Every put that unpinned before BeginSweep is in the view once it reaches
  // the log's end as of now; later ones are pinned or touched.
  const uint64_t target = engine_.log().LastLsn();
  Status s = engine_.WaitForViews(target, options_.view_timeout);
  auto view_ok = [&]() -> Status {
    for (const ViewStatus& v : engine_.projector().GetStatus()) {
      if (v.name != P::kName) continue;
      if (!v.error.empty()) return Status::Corruption("graph view stopped: " + v.error);
      if (v.checkpoint_lsn < target) return Status::TimedOut("graph view is behind the log");
    }
    return Status::OK();
  };
  if (s.ok()) s = view_ok();
  if (!s.ok()) {
    chunks_.CancelSweep();
    return s;
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<std::pair<uint64_t, ChunkStore::PinList>> keep;
    for (auto& [lsn, pins] : deferred_pins_) {
      if (lsn <= target) {
        chunks_.Unpin(pins);
      } else {
        keep.emplace_back(lsn, std::move(pins));
      }
    }
    deferred_pins_ = std::move(keep);
  }
  std::unordered_set<std::string> live, expanded;
  Status inner;
  auto reader = NewRocksViewReader(engine_.log().db(), engine_.log().views_cf(), P::kName);
  s = P::ScanLiveBlobs(*reader, [&](std::string_view tenant, const BlobRef& ref) {
    inner = chunks_.MarkReachable(tenant, ref, &live, &expanded);
    return inner.ok();
  });
  if (s.ok()) s = inner;
  if (s.ok()) s = view_ok();  // nothing reset the view meanwhile
  if (!s.ok()) {
    chunks_.CancelSweep();
    return s;
  }
  Result<SweepResult> r = chunks_.Sweep(live);
  if (!r.ok()) return r.status();
  *out = *r;
  return Status::OK();
}

Result<GraphSweepReport> GraphStore::Sweep(bool force_chunks) {
  std::lock_guard<std::mutex> sweep(sweep_mu_);
  GraphSweepReport report;
  const Actor sweeper{"graph-sweeper", Role::kAdmin};
  const int64_t now = NowMicros();

  // Expired threads and over-long namespaces, from one pass over the threads.
  std::vector<std::tuple<std::string, std::string, uint64_t>> expired;  // tenant, thread, version
  std::vector<std::pair<std::string, std::string>> to_prune;
  {
    std::map<std::pair<std::string, std::string>, int64_t> touched;
    {
      std::lock_guard<std::mutex> l(mu_);
      touched = touched_;
    }
    auto reader = NewRocksViewReader(engine_.log().db(), engine_.log().views_cf(), P::kName);
    Status s = P::ScanThreads(*reader, [&](std::string_view tenant, const ThreadRec& t) {
      const int64_t ttl = t.ttl_seconds != 0 ? t.ttl_seconds : options_.ttl_seconds;
      int64_t last = t.last_write_us;
      auto it = touched.find({std::string(tenant), t.thread_id});
      if (it != touched.end()) last = std::max(last, it->second);
      if (ttl > 0 && now - last > ttl * 1000000) {
        expired.emplace_back(std::string(tenant), t.thread_id, t.stream_version);
      } else if (options_.keep_latest > 0 && t.checkpoints > options_.keep_latest) {
        to_prune.emplace_back(std::string(tenant), t.thread_id);
      }
      return true;
    });
    if (!s.ok()) return s;
  }
  for (const auto& [tenant, thread, version] : expired) {
    Result<bool> d = DeleteThreadGuarded(tenant, sweeper, thread, version, "ttl");
    if (d.ok()) {
      ++report.threads_expired;
    } else if (!d.status().IsConflict()) {  // a conflict: written meanwhile, so alive
      return d.status();
    }
  }
  for (const auto& [tenant, thread] : to_prune) {
    Result<uint64_t> n =
        Prune(tenant, sweeper, thread, std::nullopt, options_.keep_latest, "keep_latest");
    if (n.ok()) {
      report.checkpoints_pruned += *n;
    } else if (!n.status().IsConflict()) {
      return n.status();
    }
  }

  bool dirty;
  {
    std::lock_guard<std::mutex> l(mu_);
    dirty = dirty_ || !deferred_pins_.empty();
    dirty_ = false;
  }
  if (dirty || force_chunks) {
    Status s = SweepChunks(&report.chunks);
    if (!s.ok()) {
      std::lock_guard<std::mutex> l(mu_);
      dirty_ = true;  // try again next time
      return s;
    }
    report.chunks_swept = true;
  }
  return report;
}

Result<GraphSweepReport> GraphStore::SweepNow() { return Sweep(/*force_chunks=*/true); }

Result<nlohmann::json> GraphStore::Stats() {
  auto reader = NewRocksViewReader(engine_.log().db(), engine_.log().views_cf(), P::kName);
  GraphCheckpointsProjection p;
  Result<nlohmann::json> view = p.Dump(*reader);
  if (!view.ok()) return view.status();
  Result<ChunkStoreStats> cs = chunks_.Stats();
  if (!cs.ok()) return cs.status();
  return nlohmann::json{{"tenants", std::move(*view)},
                        {"chunks", cs->chunks},
                        {"chunk_bytes", cs->bytes},
                        {"ttl_seconds", options_.ttl_seconds},
                        {"keep_latest", options_.keep_latest}};
}

}  // namespace logbook
