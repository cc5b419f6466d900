#include "log/event_id_index.h"

#include <pthread.h>

#include <rocksdb/db.h>
#include <rocksdb/sst_file_writer.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <vector>

#include <xxhash.h>

#include "log/coding.h"
#include "log/log.h"

namespace logbook {

size_t EventIdIndex::RecentMap::Home(const EventId& id) const {
  return static_cast<size_t>(XXH3_64bits(id.data(), id.size())) & (slots_.size() - 1);
}

void EventIdIndex::RecentMap::Grow() {
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(std::max<size_t>(1024, old.size() * 2), Slot{});
  size_ = 0;
  for (const Slot& s : old) {
    if (s.lsn != 0) Insert(s.id, s.lsn);
  }
}

void EventIdIndex::RecentMap::Insert(const EventId& id, uint64_t lsn) {
  if ((size_ + 1) * 2 > slots_.size()) Grow();  // load factor <= 1/2
  for (size_t i = Home(id);; i = (i + 1) & (slots_.size() - 1)) {
    if (slots_[i].lsn == 0) {
      slots_[i] = {id, lsn};
      ++size_;
      return;
    }
    if (slots_[i].id == id) return;  // first LSN wins; ids are unique anyway
  }
}

std::optional<uint64_t> EventIdIndex::RecentMap::Find(const EventId& id) const {
  if (slots_.empty()) return std::nullopt;
  for (size_t i = Home(id);; i = (i + 1) & (slots_.size() - 1)) {
    if (slots_[i].lsn == 0) return std::nullopt;
    if (slots_[i].id == id) return slots_[i].lsn;
  }
}

void EventIdIndex::RecentMap::Erase(const EventId& id) {
  if (slots_.empty()) return;
  const size_t mask = slots_.size() - 1;
  size_t i = Home(id);
  for (;; i = (i + 1) & mask) {
    if (slots_[i].lsn == 0) return;
    if (slots_[i].id == id) break;
  }
  // Backward-shift: move later entries of the probe run into the hole.
  for (size_t j = (i + 1) & mask;; j = (j + 1) & mask) {
    if (slots_[j].lsn == 0) break;
    const size_t home = Home(slots_[j].id);
    // Does slot j's entry belong at or before the hole i (cyclically)?
    const bool movable = i <= j ? (home <= i || home > j) : (home <= i && home > j);
    if (movable) {
      slots_[i] = slots_[j];
      i = j;
    }
  }
  slots_[i] = Slot{};
  --size_;
}

void EventIdIndex::Filter::Add(const EventId& id) {
  if (segments_.empty() || segments_.back().count >= segments_.back().capacity) {
    size_t total = 0;
    for (const auto& seg : segments_) total += seg.count;
    Segment seg;
    seg.capacity = std::max<size_t>(size_t{1} << 20, total);  // O(log n) segments
    seg.blocks.resize(seg.capacity * 10 / 512 + 1);
    segments_.push_back(std::move(seg));
  }
  Segment& seg = segments_.back();
  const uint64_t h = XXH3_64bits(id.data(), id.size());
  auto& block = seg.blocks[(h >> 32) % seg.blocks.size()];
  uint32_t bits = static_cast<uint32_t>(h);
  for (int i = 0; i < 6; ++i, bits = bits * 0x9e3779b1u + 0x7f4a7c15u) {
    block[(bits >> 23) & 7] |= uint64_t{1} << ((bits >> 17) & 63);
  }
  ++seg.count;
}

bool EventIdIndex::Filter::MayContain(const EventId& id) const {
  const uint64_t h = XXH3_64bits(id.data(), id.size());
  for (const Segment& seg : segments_) {
    const auto& block = seg.blocks[(h >> 32) % seg.blocks.size()];
    uint32_t bits = static_cast<uint32_t>(h);
    bool all = true;
    for (int i = 0; i < 6 && all; ++i, bits = bits * 0x9e3779b1u + 0x7f4a7c15u) {
      all = (block[(bits >> 23) & 7] >> ((bits >> 17) & 63)) & 1;
    }
    if (all) return true;
  }
  return false;
}

EventIdIndex::EventIdIndex(Log& log, uint64_t batch) : log_(log), batch_(batch) {}

EventIdIndex::~EventIdIndex() { Stop(); }

Status EventIdIndex::Load(bool writer) {
  writer_ = writer;
  std::string v;
  rocksdb::Status rs = log_.db()->Get(rocksdb::ReadOptions(), log_.meta_cf(), kIngestedKey, &v);
  uint64_t through = 0;
  if (rs.ok()) {
    if (v.size() != 8) return Status::Corruption("idempotency watermark of bad length");
    through = coding::DecodeFixed64BE(v.data());
  } else if (!rs.IsNotFound()) {
    return Status::FromRocks(rs, "reading the idempotency watermark");
  }
  ingested_.store(through, std::memory_order_release);
  {
    std::lock_guard<std::mutex> l(mu_);
    loaded_through_ = through;
  }
  if (writer_) {
    std::unique_ptr<rocksdb::Iterator> it(
        log_.db()->NewIterator(rocksdb::ReadOptions(), log_.idempotency_cf()));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      if (it->key().size() != 16) return Status::Corruption("idempotency key of bad length");
      EventId id;
      std::memcpy(id.data(), it->key().data(), 16);
      filter_.Add(id);
    }
    if (!it->status().ok()) return Status::FromRocks(it->status(), "reading the idempotency index");
  }
  return CatchUp();
}

Status EventIdIndex::CatchUp() {
  uint64_t from;
  {
    std::lock_guard<std::mutex> l(mu_);
    from = loaded_through_ + 1;
  }
  const uint64_t last = log_.LastLsn();
  if (from > last) return Status::OK();
  std::vector<std::pair<uint64_t, EventId>> found;
  // A record that does not decode has no trustworthy id; the verifier (on
  // open and in `audit verify`) reports it, so the log can still be opened
  // for inspection.
  Status s = log_.ScanRecords(from, [&](uint64_t lsn, std::string_view rec) {
    if (lsn > last) return false;
    Event e;
    if (DecodeRecordHeader(rec, &e).ok()) found.emplace_back(lsn, e.event_id);
    return true;
  });
  if (!s.ok()) return s;
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& [lsn, id] : found) {
    recent_.Insert(id, lsn);
    order_.emplace_back(lsn, id);
    if (writer_) filter_.Add(id);
  }
  loaded_through_ = last;
  return Status::OK();
}

void EventIdIndex::AddRun(const std::vector<EventId>& ids, uint64_t first_lsn) {
  for (const EventId& id : ids) filter_.Add(id);
  std::lock_guard<std::mutex> l(mu_);
  for (size_t i = 0; i < ids.size(); ++i) {
    recent_.Insert(ids[i], first_lsn + i);
    order_.emplace_back(first_lsn + i, ids[i]);
  }
}

void EventIdIndex::Prune() {
  const uint64_t through = ingested_.load(std::memory_order_acquire);
  std::lock_guard<std::mutex> l(mu_);
  while (!order_.empty() && order_.front().first <= through) {
    recent_.Erase(order_.front().second);
    order_.pop_front();
  }
}

size_t EventIdIndex::in_memory() const {
  std::lock_guard<std::mutex> l(mu_);
  return recent_.size();
}

Result<std::optional<uint64_t>> EventIdIndex::Lookup(const EventId& id) const {
  {
    std::lock_guard<std::mutex> l(mu_);
    std::optional<uint64_t> lsn = recent_.Find(id);
    if (lsn) return lsn;
  }
  std::string v;
  rocksdb::Status rs = log_.db()->Get(
      rocksdb::ReadOptions(), log_.idempotency_cf(),
      rocksdb::Slice(reinterpret_cast<const char*>(id.data()), id.size()), &v);
  if (rs.IsNotFound()) return std::optional<uint64_t>();
  if (!rs.ok()) return Status::FromRocks(rs, "reading the idempotency index");
  if (v.size() != 8) return Status::Corruption("idempotency entry of bad length");
  return std::optional<uint64_t>(coding::DecodeFixed64BE(v.data()));
}

Result<std::optional<uint64_t>> EventIdIndex::FindForWriter(const EventId& id) const {
  // Every stored and staged id went through filter_.Add: a miss is certain.
  if (!filter_.MayContain(id)) return std::optional<uint64_t>();
  return Lookup(id);
}

Result<std::optional<uint64_t>> EventIdIndex::Find(const EventId& id) const {
  Result<std::optional<uint64_t>> r = Lookup(id);
  // Staged but not yet durable: not an event yet.
  if (r.ok() && r->has_value() && **r > log_.LastLsn()) return std::optional<uint64_t>();
  return r;
}

Status EventIdIndex::IngestUpTo(uint64_t target) {
  std::lock_guard<std::mutex> guard(ingest_mu_);
  const uint64_t from = ingested_.load(std::memory_order_acquire) + 1;
  if (target < from) return Status::OK();
  // The ids to ingest are the in-memory ones up to `target`, in LSN order.
  std::vector<std::pair<EventId, uint64_t>> ids;
  {
    std::lock_guard<std::mutex> l(mu_);
    ids.reserve(static_cast<size_t>(target - from + 1));
    for (const auto& [lsn, id] : order_) {
      if (lsn > target) break;
      if (lsn >= from) ids.emplace_back(id, lsn);
    }
  }
  Status s;
  if (!ids.empty()) {
    std::sort(ids.begin(), ids.end());
    const std::string dir = log_.options().dir + "/ingest";
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    const std::string path = dir + "/ids-" + std::to_string(target) + "-" +
                             std::to_string(++file_seq_) + ".sst";
    rocksdb::Options opts(log_.db()->GetDBOptions(),
                          log_.db()->GetOptions(log_.idempotency_cf()));
    rocksdb::SstFileWriter writer(rocksdb::EnvOptions(), opts, log_.idempotency_cf());
    s = Status::FromRocks(writer.Open(path), "opening " + path);
    for (size_t i = 0; s.ok() && i < ids.size(); ++i) {
      if (i > 0 && ids[i].first == ids[i - 1].first) continue;  // ids are unique; be safe
      const std::string lsn = coding::Fixed64BE(ids[i].second);
      s = Status::FromRocks(
          writer.Put(rocksdb::Slice(reinterpret_cast<const char*>(ids[i].first.data()), 16), lsn),
          "writing " + path);
    }
    if (s.ok()) s = Status::FromRocks(writer.Finish(), "finishing " + path);
    if (s.ok()) {
      rocksdb::IngestExternalFileOptions io;
      io.move_files = true;
      s = Status::FromRocks(log_.db()->IngestExternalFile(log_.idempotency_cf(), {path}, io),
                            "ingesting event ids");
    }
    std::filesystem::remove(path, ec);  // moved (hard-linked) on success; garbage otherwise
    if (!s.ok()) return s;
  }
  rocksdb::WriteOptions wo;
  wo.sync = true;
  s = Status::FromRocks(
      log_.db()->Put(wo, log_.meta_cf(), kIngestedKey, coding::Fixed64BE(target)),
      "recording the idempotency watermark");
  if (!s.ok()) return s;
  ingested_.store(target, std::memory_order_release);
  return Status::OK();
}

Status EventIdIndex::IngestAll() { return IngestUpTo(log_.LastLsn()); }

void EventIdIndex::StartIngestion() {
  stop_.store(false);
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "lb-id-ingest");
    Loop();
  });
}

void EventIdIndex::Stop() {
  stop_.store(true);
  log_.NotifyWaiters();
  if (thread_.joinable()) thread_.join();
}

void EventIdIndex::Loop() {
  while (!stop_.load()) {
    const uint64_t want = ingested_.load(std::memory_order_acquire) + batch_;
    Status w = log_.WaitForLsn(want, std::chrono::seconds(1), &stop_);
    if (stop_.load()) break;
    if (!w.ok()) continue;
    // A failure leaves the ids in memory, where lookups still find them;
    // the next round retries.
    (void)IngestUpTo(log_.LastLsn());
  }
}

}  // namespace logbook
