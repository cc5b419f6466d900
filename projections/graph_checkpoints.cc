#include "projections/graph_checkpoints.h"

#include <set>

#include "log/coding.h"
#include "schemas/events_generated.h"

namespace logbook {

namespace {

constexpr uint8_t kRecFormat = 1;
constexpr uint16_t kCheckpointSaved = static_cast<uint16_t>(fb::EventType::CheckpointSaved);
constexpr uint16_t kWritesPut = static_cast<uint16_t>(fb::EventType::WritesPut);
constexpr uint16_t kThreadDeleted = static_cast<uint16_t>(fb::EventType::ThreadDeleted);
constexpr uint16_t kCheckpointsPruned = static_cast<uint16_t>(fb::EventType::CheckpointsPruned);

// ---- value encoding: varints and length-prefixed strings.

void PutVarint(std::string* d, uint64_t v) {
  while (v >= 0x80) {
    d->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  d->push_back(static_cast<char>(v));
}
void PutStr(std::string* d, std::string_view s) {
  PutVarint(d, s.size());
  d->append(s);
}
void PutI64(std::string* d, int64_t v) { PutVarint(d, static_cast<uint64_t>(v)); }

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool Varint(uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift <= 63 && !in_.empty(); shift += 7) {
      const auto b = static_cast<uint8_t>(in_[0]);
      in_.remove_prefix(1);
      *v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return true;
    }
    return false;
  }
  bool Str(std::string* s) {
    uint64_t n;
    if (!Varint(&n) || n > in_.size()) return false;
    s->assign(in_.data(), n);
    in_.remove_prefix(n);
    return true;
  }
  bool I64(int64_t* v) {
    uint64_t u;
    if (!Varint(&u)) return false;
    *v = static_cast<int64_t>(u);
    return true;
  }
  bool Byte(uint8_t* b) {
    if (in_.empty()) return false;
    *b = static_cast<uint8_t>(in_[0]);
    in_.remove_prefix(1);
    return true;
  }
  bool done() const { return in_.empty(); }

 private:
  std::string_view in_;
};

void PutBlob(std::string* d, const BlobRef& b) {
  PutStr(d, b.type);
  PutVarint(d, b.size);
  d->push_back(static_cast<char>(b.levels));
  PutStr(d, b.refs);
}
bool GetBlob(Reader* r, BlobRef* b) {
  return r->Str(&b->type) && r->Varint(&b->size) && r->Byte(&b->levels) && r->Str(&b->refs) &&
         b->refs.size() % kChunkHashSize == 0;
}

std::string EncodeCheckpoint(const CheckpointRec& c) {
  std::string d(1, static_cast<char>(kRecFormat));
  PutStr(&d, c.thread_id);
  PutStr(&d, c.checkpoint_ns);
  PutStr(&d, c.checkpoint_id);
  PutStr(&d, c.parent_id);
  PutStr(&d, c.metadata_json);
  d.push_back(c.has_checkpoint_blob ? 1 : 0);
  PutBlob(&d, c.checkpoint);
  PutStr(&d, c.checkpoint_json);
  PutVarint(&d, c.channel_refs.size());
  for (const auto& [ch, v] : c.channel_refs) {
    PutStr(&d, ch);
    PutStr(&d, v);
  }
  PutVarint(&d, c.read_refs);
  PutVarint(&d, c.lsn);
  PutI64(&d, c.saved_at_us);
  return d;
}
Status DecodeCheckpoint(std::string_view v, CheckpointRec* c) {
  Reader r(v);
  uint8_t format = 0, has_blob = 0;
  uint64_t n = 0;
  bool ok = r.Byte(&format) && format == kRecFormat && r.Str(&c->thread_id) &&
            r.Str(&c->checkpoint_ns) && r.Str(&c->checkpoint_id) && r.Str(&c->parent_id) &&
            r.Str(&c->metadata_json) && r.Byte(&has_blob) && GetBlob(&r, &c->checkpoint) &&
            r.Str(&c->checkpoint_json) && r.Varint(&n) && n <= v.size();
  c->has_checkpoint_blob = has_blob != 0;
  for (uint64_t i = 0; ok && i < n; ++i) {
    std::string ch, ver;
    ok = r.Str(&ch) && r.Str(&ver);
    c->channel_refs.emplace_back(std::move(ch), std::move(ver));
  }
  ok = ok && r.Varint(&c->read_refs) && c->read_refs <= n && r.Varint(&c->lsn) &&
       r.I64(&c->saved_at_us) && r.done();
  return ok ? Status::OK() : Status::Corruption("graph view: malformed checkpoint record");
}

std::string EncodeChannelValue(const ChannelValueRec& b) {
  std::string d(1, static_cast<char>(kRecFormat));
  PutVarint(&d, b.refcount);
  d.push_back(b.has_value ? 1 : 0);
  PutBlob(&d, b.value);
  return d;
}
Status DecodeChannelValue(std::string_view v, ChannelValueRec* b) {
  Reader r(v);
  uint8_t format = 0, has = 0;
  bool ok = r.Byte(&format) && format == kRecFormat && r.Varint(&b->refcount) && r.Byte(&has) &&
            GetBlob(&r, &b->value) && r.done();
  b->has_value = has != 0;
  return ok ? Status::OK() : Status::Corruption("graph view: malformed channel value record");
}

std::string EncodeWrite(const WriteRec& w) {
  std::string d(1, static_cast<char>(kRecFormat));
  PutStr(&d, w.task_id);
  PutI64(&d, w.idx);
  PutStr(&d, w.channel);
  PutStr(&d, w.task_path);
  PutVarint(&d, w.seq);
  PutBlob(&d, w.value);
  return d;
}
Status DecodeWrite(std::string_view v, WriteRec* w) {
  Reader r(v);
  uint8_t format = 0;
  int64_t idx = 0;
  bool ok = r.Byte(&format) && format == kRecFormat && r.Str(&w->task_id) && r.I64(&idx) &&
            r.Str(&w->channel) && r.Str(&w->task_path) && r.Varint(&w->seq) &&
            GetBlob(&r, &w->value) && r.done();
  w->idx = static_cast<int32_t>(idx);
  return ok ? Status::OK() : Status::Corruption("graph view: malformed write record");
}

std::string EncodeThread(const ThreadRec& t) {
  std::string d(1, static_cast<char>(kRecFormat));
  PutStr(&d, t.thread_id);
  PutI64(&d, t.last_write_us);
  PutVarint(&d, t.stream_version);
  PutI64(&d, t.ttl_seconds);
  PutVarint(&d, t.checkpoints);
  return d;
}
Status DecodeThread(std::string_view v, ThreadRec* t) {
  Reader r(v);
  uint8_t format = 0;
  bool ok = r.Byte(&format) && format == kRecFormat && r.Str(&t->thread_id) &&
            r.I64(&t->last_write_us) && r.Varint(&t->stream_version) && r.I64(&t->ttl_seconds) &&
            r.Varint(&t->checkpoints) && r.done();
  return ok ? Status::OK() : Status::Corruption("graph view: malformed thread record");
}

// ---- keys

std::string Join(char tag, std::initializer_list<std::string_view> parts) {
  std::string k(1, tag);
  bool first = true;
  for (std::string_view p : parts) {
    if (!first) k.push_back('\0');
    first = false;
    k.append(p);
  }
  return k;
}
std::string Inv(std::string_view id) {
  std::string out;
  out.reserve(id.size() + 1);
  for (char c : id) out.push_back(static_cast<char>(0xff - static_cast<uint8_t>(c)));
  out.push_back(static_cast<char>(0xff));
  return out;
}
std::string ThreadPrefix(char tag, std::string_view t, std::string_view th) {
  return Join(tag, {t, th, ""});
}
std::string CheckpointKey(std::string_view t, std::string_view th, std::string_view ns,
                          std::string_view id) {
  return Join('c', {t, th, ns, ""}) + Inv(id);
}
std::string ChannelKey(std::string_view t, std::string_view th, std::string_view ns,
                       std::string_view ch, std::string_view v) {
  return Join('b', {t, th, ns, ch, v});
}
std::string WritesPrefix(std::string_view t, std::string_view th, std::string_view ns,
                         std::string_view id) {
  return Join('w', {t, th, ns, id, ""});
}
std::string WriteKey(std::string_view t, std::string_view th, std::string_view ns,
                     std::string_view id, std::string_view task, int32_t idx) {
  std::string k = WritesPrefix(t, th, ns, id);
  k.append(task);
  k.push_back('\0');
  const uint32_t u = static_cast<uint32_t>(idx) ^ 0x80000000u;
  for (int i = 3; i >= 0; --i) k.push_back(static_cast<char>((u >> (8 * i)) & 0xff));
  return k;
}
std::string ThreadKey(std::string_view t, std::string_view th) { return Join('t', {t, th}); }

std::string_view Sv(const flatbuffers::String* s) {
  return s == nullptr ? std::string_view() : std::string_view(s->data(), s->size());
}
BlobRef FromFb(const fb::GraphBlob* b) {
  BlobRef r;
  if (b == nullptr) return r;
  r.type = std::string(Sv(b->type()));
  r.size = b->size();
  r.levels = b->levels();
  if (b->refs() != nullptr) {
    r.refs.assign(reinterpret_cast<const char*>(b->refs()->data()), b->refs()->size());
  }
  return r;
}

template <typename T>
const T* VerifiedRoot(const Event& e) {
  flatbuffers::Verifier v(reinterpret_cast<const uint8_t*>(e.payload.data()), e.payload.size());
  if (!v.VerifyBuffer<T>(nullptr)) return nullptr;
  return flatbuffers::GetRoot<T>(e.payload.data());
}

template <typename Rec>
Result<std::optional<Rec>> GetRec(ViewReader& r, const std::string& key,
                                  Status (*decode)(std::string_view, Rec*)) {
  Result<std::optional<std::string>> v = r.Get(key);
  if (!v.ok()) return v.status();
  if (!v->has_value()) return std::optional<Rec>();
  Rec rec;
  Status s = decode(**v, &rec);
  if (!s.ok()) return s;
  return std::optional<Rec>(std::move(rec));
}

Status DeletePrefix(ViewTxn& txn, const std::string& prefix) {
  std::vector<std::string> keys;
  Status s = txn.Scan(prefix, [&](std::string_view k, std::string_view) {
    keys.emplace_back(k);
    return true;
  });
  if (!s.ok()) return s;
  for (const auto& k : keys) txn.Delete(k);
  return Status::OK();
}

// Drops the counts a checkpoint holds on channel values.
Status ReleaseRefs(ViewTxn& txn, std::string_view t, const CheckpointRec& c) {
  for (const auto& [ch, v] : c.channel_refs) {
    const std::string key = ChannelKey(t, c.thread_id, c.checkpoint_ns, ch, v);
    Result<std::optional<ChannelValueRec>> b = GetRec(txn, key, &DecodeChannelValue);
    if (!b.ok()) return b.status();
    if (!b->has_value()) continue;
    ChannelValueRec rec = std::move(**b);
    if (rec.refcount <= 1) {
      txn.Delete(key);
    } else {
      --rec.refcount;
      txn.Put(key, EncodeChannelValue(rec));
    }
  }
  return Status::OK();
}

Status ApplySaved(const Event& e, ViewTxn& txn) {
  const fb::CheckpointSaved* p = VerifiedRoot<fb::CheckpointSaved>(e);
  if (p == nullptr) return Status::OK();
  const std::string_view t = e.tenant;
  const std::string_view th = Sv(p->thread_id());
  const std::string_view ns = Sv(p->checkpoint_ns());
  const std::string_view id = Sv(p->checkpoint_id());
  if (th.empty() || id.empty() || !GraphCheckpointsProjection::KeySafe(th) ||
      !GraphCheckpointsProjection::KeySafe(ns) || !GraphCheckpointsProjection::KeySafe(id)) {
    return Status::OK();
  }
  const std::string ckey = CheckpointKey(t, th, ns, id);
  Result<std::optional<CheckpointRec>> old = GetRec(txn, ckey, &DecodeCheckpoint);
  if (!old.ok()) return old.status();
  if (old->has_value()) {
    // The same checkpoint put again: its new counts replace the old ones.
    Status s = ReleaseRefs(txn, t, **old);
    if (!s.ok()) return s;
  }

  CheckpointRec rec;
  rec.thread_id = std::string(th);
  rec.checkpoint_ns = std::string(ns);
  rec.checkpoint_id = std::string(id);
  rec.parent_id = std::string(Sv(p->parent_id()));
  rec.metadata_json = std::string(Sv(p->metadata_json()));
  rec.has_checkpoint_blob = p->checkpoint() != nullptr;
  rec.checkpoint = FromFb(p->checkpoint());
  rec.checkpoint_json = std::string(Sv(p->checkpoint_json()));
  rec.lsn = e.lsn;
  rec.saved_at_us = e.recorded_at_us;

  // Values first, then one count per (channel, version) the checkpoint reads
  // or wrote: a value it wrote under a version it does not read stays alive
  // as long as the checkpoint does.
  std::vector<std::pair<std::string, std::string>> refs;
  std::set<std::pair<std::string, std::string>> seen;
  if (p->channel_versions() != nullptr) {
    for (const fb::GraphChannelVersion* v : *p->channel_versions()) {
      std::pair<std::string, std::string> ref(Sv(v->channel()), Sv(v->version()));
      if (GraphCheckpointsProjection::KeySafe(ref.first) &&
          GraphCheckpointsProjection::KeySafe(ref.second) && seen.insert(ref).second) {
        refs.push_back(std::move(ref));
      }
    }
  }
  rec.read_refs = refs.size();
  if (p->values() != nullptr) {
    for (const fb::GraphChannelValue* v : *p->values()) {
      const std::string_view ch = Sv(v->channel());
      const std::string_view ver = Sv(v->version());
      if (!GraphCheckpointsProjection::KeySafe(ch) || !GraphCheckpointsProjection::KeySafe(ver)) {
        continue;
      }
      const std::string key = ChannelKey(t, th, ns, ch, ver);
      Result<std::optional<ChannelValueRec>> b = GetRec(txn, key, &DecodeChannelValue);
      if (!b.ok()) return b.status();
      ChannelValueRec cv = b->has_value() ? std::move(**b) : ChannelValueRec();
      cv.has_value = true;
      cv.value = FromFb(v->value());
      txn.Put(key, EncodeChannelValue(cv));
      std::pair<std::string, std::string> ref(ch, ver);
      if (seen.insert(ref).second) refs.push_back(std::move(ref));
    }
  }
  for (const auto& [ch, ver] : refs) {
    const std::string key = ChannelKey(t, th, ns, ch, ver);
    Result<std::optional<ChannelValueRec>> b = GetRec(txn, key, &DecodeChannelValue);
    if (!b.ok()) return b.status();
    ChannelValueRec cv = b->has_value() ? std::move(**b) : ChannelValueRec();
    ++cv.refcount;
    txn.Put(key, EncodeChannelValue(cv));
    rec.channel_refs.emplace_back(ch, ver);
  }
  txn.Put(ckey, EncodeCheckpoint(rec));

  const std::string tkey = ThreadKey(t, th);
  Result<std::optional<ThreadRec>> tr = GetRec(txn, tkey, &DecodeThread);
  if (!tr.ok()) return tr.status();
  ThreadRec thread = tr->has_value() ? std::move(**tr) : ThreadRec();
  thread.thread_id = std::string(th);
  thread.last_write_us = e.recorded_at_us;
  thread.stream_version = e.stream_version;
  if (p->ttl_seconds() != 0) thread.ttl_seconds = p->ttl_seconds();
  if (!old->has_value()) ++thread.checkpoints;
  txn.Put(tkey, EncodeThread(thread));
  return Status::OK();
}

Status ApplyWrites(const Event& e, ViewTxn& txn) {
  const fb::WritesPut* p = VerifiedRoot<fb::WritesPut>(e);
  if (p == nullptr || p->writes() == nullptr) return Status::OK();
  const std::string_view t = e.tenant;
  const std::string_view th = Sv(p->thread_id());
  const std::string_view ns = Sv(p->checkpoint_ns());
  const std::string_view id = Sv(p->checkpoint_id());
  const std::string_view task = Sv(p->task_id());
  using P = GraphCheckpointsProjection;
  if (th.empty() || !P::KeySafe(th) || !P::KeySafe(ns) || !P::KeySafe(id) || !P::KeySafe(task)) {
    return Status::OK();
  }
  uint64_t pos = 0;
  for (const fb::GraphWrite* w : *p->writes()) {
    const std::string key = WriteKey(t, th, ns, id, task, w->idx());
    // A regular write (idx >= 0) already stored for this task stays as it
    // was (a retried task); special writes (errors, interrupts) replace.
    if (w->idx() >= 0) {
      Result<std::optional<std::string>> have = txn.Get(key);
      if (!have.ok()) return have.status();
      if (have->has_value()) continue;
    }
    WriteRec rec;
    rec.task_id = std::string(task);
    rec.idx = w->idx();
    rec.channel = std::string(Sv(w->channel()));
    rec.task_path = std::string(Sv(p->task_path()));
    rec.seq = (e.lsn << 16) | std::min<uint64_t>(pos++, 0xffff);
    rec.value = FromFb(w->value());
    txn.Put(key, EncodeWrite(rec));
  }
  const std::string tkey = ThreadKey(t, th);
  Result<std::optional<ThreadRec>> tr = GetRec(txn, tkey, &DecodeThread);
  if (!tr.ok()) return tr.status();
  ThreadRec thread = tr->has_value() ? std::move(**tr) : ThreadRec();
  thread.thread_id = std::string(th);
  thread.last_write_us = e.recorded_at_us;
  thread.stream_version = e.stream_version;
  txn.Put(tkey, EncodeThread(thread));
  return Status::OK();
}

Status ApplyDeleted(const Event& e, ViewTxn& txn) {
  const fb::ThreadDeleted* p = VerifiedRoot<fb::ThreadDeleted>(e);
  if (p == nullptr) return Status::OK();
  const std::string_view th = Sv(p->thread_id());
  if (th.empty() || !GraphCheckpointsProjection::KeySafe(th)) return Status::OK();
  for (char tag : {'c', 'b', 'w'}) {
    Status s = DeletePrefix(txn, ThreadPrefix(tag, e.tenant, th));
    if (!s.ok()) return s;
  }
  txn.Delete(ThreadKey(e.tenant, th));
  return Status::OK();
}

Status ApplyPruned(const Event& e, ViewTxn& txn) {
  const fb::CheckpointsPruned* p = VerifiedRoot<fb::CheckpointsPruned>(e);
  if (p == nullptr || p->checkpoint_ids() == nullptr) return Status::OK();
  const std::string_view t = e.tenant;
  const std::string_view th = Sv(p->thread_id());
  const std::string_view ns = Sv(p->checkpoint_ns());
  using P = GraphCheckpointsProjection;
  if (th.empty() || !P::KeySafe(th) || !P::KeySafe(ns)) return Status::OK();
  uint64_t removed = 0;
  for (const flatbuffers::String* s : *p->checkpoint_ids()) {
    const std::string_view id = Sv(s);
    if (id.empty() || !P::KeySafe(id)) continue;
    const std::string ckey = CheckpointKey(t, th, ns, id);
    Result<std::optional<CheckpointRec>> c = GetRec(txn, ckey, &DecodeCheckpoint);
    if (!c.ok()) return c.status();
    if (!c->has_value()) continue;
    Status st = ReleaseRefs(txn, t, **c);
    if (!st.ok()) return st;
    txn.Delete(ckey);
    st = DeletePrefix(txn, WritesPrefix(t, th, ns, id));
    if (!st.ok()) return st;
    ++removed;
  }
  const std::string tkey = ThreadKey(t, th);
  Result<std::optional<ThreadRec>> tr = GetRec(txn, tkey, &DecodeThread);
  if (!tr.ok()) return tr.status();
  if (tr->has_value()) {
    ThreadRec thread = std::move(**tr);
    thread.checkpoints = thread.checkpoints > removed ? thread.checkpoints - removed : 0;
    thread.stream_version = e.stream_version;
    txn.Put(tkey, EncodeThread(thread));
  }
  return Status::OK();
}

}  // namespace

bool GraphCheckpointsProjection::KeySafe(std::string_view s) {
  return s.find('\0') == std::string_view::npos;
}

Status GraphCheckpointsProjection::Apply(const Event& e, ViewTxn& txn) {
  switch (e.type) {
    case kCheckpointSaved: return ApplySaved(e, txn);
    case kWritesPut: return ApplyWrites(e, txn);
    case kThreadDeleted: return ApplyDeleted(e, txn);
    case kCheckpointsPruned: return ApplyPruned(e, txn);
    default: return Status::OK();
  }
}

Result<std::optional<CheckpointRec>> GraphCheckpointsProjection::GetCheckpoint(
    ViewReader& r, std::string_view tenant, std::string_view thread, std::string_view ns,
    std::string_view checkpoint_id) {
  if (!checkpoint_id.empty()) {
    return GetRec(r, CheckpointKey(tenant, thread, ns, checkpoint_id), &DecodeCheckpoint);
  }
  std::optional<CheckpointRec> latest;
  Status inner;
  Status s = r.Scan(Join('c', {tenant, thread, ns, ""}), [&](std::string_view, std::string_view v) {
    CheckpointRec c;
    inner = DecodeCheckpoint(v, &c);
    if (inner.ok()) latest = std::move(c);
    return false;  // the first key is the newest
  });
  if (!s.ok()) return s;
  if (!inner.ok()) return inner;
  return latest;
}

Status GraphCheckpointsProjection::ScanCheckpoints(
    ViewReader& r, std::string_view tenant, const std::optional<std::string>& thread,
    const std::optional<std::string>& ns, std::string_view after,
    const std::function<bool(std::string_view, const CheckpointRec&)>& fn) {
  std::string prefix = "c" + std::string(tenant);
  prefix.push_back('\0');
  if (thread) {
    prefix += *thread;
    prefix.push_back('\0');
    if (ns) {
      prefix += *ns;
      prefix.push_back('\0');
    }
  }
  std::string start = prefix;
  if (!after.empty()) {
    start = std::string(after);
    start.push_back('\0');  // the first key after `after`
  }
  Status inner;
  Status s = r.Scan(prefix, start, [&](std::string_view k, std::string_view v) {
    CheckpointRec c;
    inner = DecodeCheckpoint(v, &c);
    if (!inner.ok()) return false;
    // Without a thread the namespace is filtered here.
    if (ns && !thread && c.checkpoint_ns != *ns) return true;
    return fn(k, c);
  });
  if (!s.ok()) return s;
  return inner;
}

Result<std::vector<WriteRec>> GraphCheckpointsProjection::GetWrites(ViewReader& r,
                                                                    std::string_view tenant,
                                                                    std::string_view thread,
                                                                    std::string_view ns,
                                                                    std::string_view checkpoint_id) {
  std::vector<WriteRec> out;
  Status inner;
  Status s = r.Scan(WritesPrefix(tenant, thread, ns, checkpoint_id),
                    [&](std::string_view, std::string_view v) {
                      WriteRec w;
                      inner = DecodeWrite(v, &w);
                      if (!inner.ok()) return false;
                      out.push_back(std::move(w));
                      return true;
                    });
  if (!s.ok()) return s;
  if (!inner.ok()) return inner;
  std::sort(out.begin(), out.end(),
            [](const WriteRec& a, const WriteRec& b) { return a.seq < b.seq; });
  return out;
}

Result<std::optional<ChannelValueRec>> GraphCheckpointsProjection::GetChannelValue(
    ViewReader& r, std::string_view tenant, std::string_view thread, std::string_view ns,
    std::string_view channel, std::string_view version) {
  return GetRec(r, ChannelKey(tenant, thread, ns, channel, version), &DecodeChannelValue);
}

Result<std::optional<ThreadRec>> GraphCheckpointsProjection::GetThread(ViewReader& r,
                                                                       std::string_view tenant,
                                                                       std::string_view thread) {
  return GetRec(r, ThreadKey(tenant, thread), &DecodeThread);
}

Status GraphCheckpointsProjection::ScanThreads(
    ViewReader& r, const std::function<bool(std::string_view, const ThreadRec&)>& fn) {
  Status inner;
  Status s = r.Scan("t", [&](std::string_view k, std::string_view v) {
    ThreadRec t;
    inner = DecodeThread(v, &t);
    if (!inner.ok()) return false;
    const size_t nul = k.find('\0', 1);
    if (nul == std::string_view::npos) {
      inner = Status::Corruption("graph view: malformed thread key");
      return false;
    }
    return fn(k.substr(1, nul - 1), t);
  });
  if (!s.ok()) return s;
  return inner;
}

Status GraphCheckpointsProjection::ScanLiveBlobs(
    ViewReader& r, const std::function<bool(std::string_view, const BlobRef&)>& fn) {
  auto tenant_of = [](std::string_view k) {
    const size_t nul = k.find('\0', 1);
    return nul == std::string_view::npos ? std::string_view() : k.substr(1, nul - 1);
  };
  Status inner;
  bool go_on = true;
  Status s = r.Scan("c", [&](std::string_view k, std::string_view v) {
    CheckpointRec c;
    inner = DecodeCheckpoint(v, &c);
    if (!inner.ok()) return false;
    if (c.has_checkpoint_blob) go_on = fn(tenant_of(k), c.checkpoint);
    return go_on;
  });
  if (s.ok() && inner.ok() && go_on) {
    s = r.Scan("b", [&](std::string_view k, std::string_view v) {
      ChannelValueRec b;
      inner = DecodeChannelValue(v, &b);
      if (!inner.ok()) return false;
      if (b.has_value) go_on = fn(tenant_of(k), b.value);
      return go_on;
    });
  }
  if (s.ok() && inner.ok() && go_on) {
    s = r.Scan("w", [&](std::string_view k, std::string_view v) {
      WriteRec w;
      inner = DecodeWrite(v, &w);
      if (!inner.ok()) return false;
      go_on = fn(tenant_of(k), w.value);
      return go_on;
    });
  }
  if (!s.ok()) return s;
  return inner;
}

Result<nlohmann::json> GraphCheckpointsProjection::Dump(ViewReader& reader) {
  // A summary per tenant: the view holds references, not values.
  nlohmann::json out = nlohmann::json::object();
  auto tenant_of = [](std::string_view k) {
    const size_t nul = k.find('\0', 1);
    std::string t(nul == std::string_view::npos ? std::string_view() : k.substr(1, nul - 1));
    return t.empty() ? std::string("(none)") : t;
  };
  const std::pair<char, const char*> kinds[] = {
      {'t', "threads"}, {'c', "checkpoints"}, {'b', "channel_values"}, {'w', "writes"}};
  for (const auto& [tag, label] : kinds) {
    Status s = reader.Scan(std::string(1, tag), [&](std::string_view k, std::string_view) {
      auto& n = out[tenant_of(k)][label];
      n = n.is_null() ? 1 : n.get<uint64_t>() + 1;
      return true;
    });
    if (!s.ok()) return s;
  }
  return out;
}

}  // namespace logbook
