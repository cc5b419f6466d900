#include "log/event_id_index.h"

#include <rocksdb/db.h>
#include <rocksdb/sst_file_writer.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <vector>

#include "log/coding.h"
#include "log/log.h"

namespace logbook {

size_t EventIdIndex::IdHash::operator()(const EventId& id) const {
  uint64_t a;
  uint64_t b;
  std::memcpy(&a, id.data(), 8);
  std::memcpy(&b, id.data() + 8, 8);
  return static_cast<size_t>(a ^ (b * 0x9e3779b97f4a7c15ULL));
}

EventIdIndex::EventIdIndex(Log& log, uint64_t batch) : log_(log), batch_(batch) {}

EventIdIndex::~EventIdIndex() { Stop(); }

Status EventIdIndex::Load() {
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
    recent_.emplace(id, lsn);
    order_.emplace_back(lsn, id);
  }
  loaded_through_ = last;
  return Status::OK();
}

void EventIdIndex::Add(const EventId& id, uint64_t lsn) {
  std::lock_guard<std::mutex> l(mu_);
  recent_.emplace(id, lsn);
  order_.emplace_back(lsn, id);
}

void EventIdIndex::Prune() {
  const uint64_t through = ingested_.load(std::memory_order_acquire);
  std::lock_guard<std::mutex> l(mu_);
  while (!order_.empty() && order_.front().first <= through) {
    recent_.erase(order_.front().second);
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
    auto it = recent_.find(id);
    if (it != recent_.end()) return std::optional<uint64_t>(it->second);
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
  std::vector<std::pair<EventId, uint64_t>> ids;
  ids.reserve(static_cast<size_t>(target - from + 1));
  Status inner;
  Status s = log_.ScanRecords(from, [&](uint64_t lsn, std::string_view rec) {
    if (lsn > target) return false;
    Event e;
    inner = DecodeRecordHeader(rec, &e);
    if (!inner.ok()) {
      // Keep the ids in memory (lookups still find them) until the damaged
      // record is dealt with; `audit verify` names it.
      inner = Status::Corruption("LSN " + std::to_string(lsn) + ": " + inner.message());
      return false;
    }
    ids.emplace_back(e.event_id, lsn);
    return true;
  });
  if (!inner.ok()) return inner;
  if (!s.ok()) return s;
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
  thread_ = std::thread([this] { Loop(); });
}

void EventIdIndex::Stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

void EventIdIndex::Loop() {
  while (!stop_.load()) {
    const uint64_t want = ingested_.load(std::memory_order_acquire) + batch_;
    Status w = log_.WaitForLsn(want, std::chrono::milliseconds(200));
    if (stop_.load()) break;
    if (!w.ok()) continue;
    // A failure leaves the ids in memory, where lookups still find them;
    // the next round retries.
    (void)IngestUpTo(log_.LastLsn());
  }
}

}  // namespace logbook
