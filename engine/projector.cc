#include "engine/projector.h"

#include <pthread.h>

#include <rocksdb/db.h>

#include "log/coding.h"
#include "projections/view_store.h"

namespace logbook {

namespace {

constexpr size_t kChunkEvents = 1024;
// The background loop's linger: after a step of fewer than kLingerEvents
// events it sleeps kLinger before the next one (see Loop).
constexpr size_t kLingerEvents = 64;
constexpr auto kLinger = std::chrono::milliseconds(1);

std::string EncodeCheckpoint(uint64_t lsn, uint32_t version) {
  std::string v = coding::Fixed64BE(lsn);
  for (int i = 3; i >= 0; --i) v.push_back(static_cast<char>((version >> (8 * i)) & 0xff));
  return v;
}

std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty()) {
    auto& c = reinterpret_cast<unsigned char&>(prefix.back());
    if (c != 0xff) {
      ++c;
      return prefix;
    }
    prefix.pop_back();
  }
  return prefix;
}

}  // namespace

std::string Projector::CheckpointKey(std::string_view view) {
  return "projection/" + std::string(view);
}

Projector::Projector(Log& log, std::vector<std::unique_ptr<Projection>> projections)
    : log_(log),
      projections_(std::move(projections)),
      checkpoints_(projections_.size(), 0),
      errors_(projections_.size()) {}

Projector::~Projector() { Stop(); }

Status Projector::Load(bool writable) {
  std::lock_guard<std::mutex> l(mu_);
  rocksdb::WriteBatch resets;
  for (size_t i = 0; i < projections_.size(); ++i) {
    const Projection& p = *projections_[i];
    std::string v;
    rocksdb::Status rs =
        log_.db()->Get(rocksdb::ReadOptions(), log_.meta_cf(), CheckpointKey(p.name()), &v);
    uint64_t lsn = 0;
    uint32_t version = p.version();
    if (rs.ok()) {
      if (v.size() != 12) return Status::Corruption("checkpoint of view " + std::string(p.name()));
      lsn = coding::DecodeFixed64BE(v.data());
      version = static_cast<uint32_t>(coding::DecodeFixed64BE(v.data() + 4) & 0xffffffffu);
    } else if (!rs.IsNotFound()) {
      return Status::FromRocks(rs, "reading view checkpoints");
    }
    if (lsn > log_.LastLsn()) {
      return Status::Corruption("view " + std::string(p.name()) + " is at LSN " +
                                std::to_string(lsn) + " beyond the log's last LSN " +
                                std::to_string(log_.LastLsn()));
    }
    if (version != p.version()) {
      if (!writable) {
        errors_[i] = "view version changed; open read-write to rebuild it";
      } else {
        const std::string begin = ViewPrefix(p.name());
        (void)resets.DeleteRange(log_.views_cf(), begin, PrefixEnd(begin));
        (void)resets.Put(log_.meta_cf(), CheckpointKey(p.name()), EncodeCheckpoint(0, p.version()));
        lsn = 0;
      }
    }
    checkpoints_[i] = lsn;
  }
  if (resets.Count() > 0) {
    Status s = Status::FromRocks(log_.db()->Write(rocksdb::WriteOptions(), &resets),
                                 "resetting changed views");
    if (!s.ok()) return s;
  }
  RecomputeApplied();
  return Status::OK();
}

void Projector::RecomputeApplied() {
  uint64_t min = UINT64_MAX;
  for (size_t i = 0; i < checkpoints_.size(); ++i) {
    if (errors_[i].empty()) min = std::min(min, checkpoints_[i]);
  }
  if (min == UINT64_MAX) min = 0;
  applied_.store(min, std::memory_order_release);
  applied_cv_.notify_all();
}

Result<size_t> Projector::Step(size_t max_events) {
  std::lock_guard<std::mutex> l(mu_);
  const uint64_t from = applied_.load() + 1;
  if (from > log_.LastLsn()) return size_t{0};
  // Removed records come back too: LSNs stay dense, and a view steps over
  // them (the event is gone; what the view folded from it before stays).
  Result<std::vector<Event>> events =
      log_.ReadAll(from, std::min(max_events, kChunkEvents), /*include_removed=*/true);
  if (!events.ok()) return events.status();
  if (events->empty()) return size_t{0};

  RocksViewBatch batch(log_.db(), log_.views_cf());
  std::vector<std::unique_ptr<ViewTxn>> txns;
  std::vector<uint64_t> next = checkpoints_;
  for (const auto& p : projections_) txns.push_back(batch.ForView(p->name()));
  for (const Event& e : *events) {
    for (size_t i = 0; i < projections_.size(); ++i) {
      if (!errors_[i].empty() || next[i] >= e.lsn) continue;
      if (next[i] + 1 != e.lsn) {
        // Events are dense; a jump means the log lost records under us.
        errors_[i] = "expected LSN " + std::to_string(next[i] + 1) + ", read " + std::to_string(e.lsn);
        continue;
      }
      Status s = e.removed ? Status::OK() : projections_[i]->Apply(e, *txns[i]);
      if (!s.ok()) {
        errors_[i] = "LSN " + std::to_string(e.lsn) + ": " + s.ToString();
        continue;
      }
      next[i] = e.lsn;
    }
  }
  // A failed view keeps its last good checkpoint, but its partial changes in
  // this batch must not land: rebuild the batch without them.
  bool any_failed_now = false;
  for (size_t i = 0; i < projections_.size(); ++i) {
    if (!errors_[i].empty() && next[i] != checkpoints_[i]) any_failed_now = true;
  }
  if (any_failed_now) {
    // Simplest correct recovery: drop this chunk; the next Step re-applies
    // the healthy views (the failed ones are skipped from now on).
    RecomputeApplied();
    return size_t{0};
  }
  for (size_t i = 0; i < projections_.size(); ++i) {
    if (next[i] != checkpoints_[i]) {
      batch.PutRaw(log_.meta_cf(), CheckpointKey(projections_[i]->name()),
                   EncodeCheckpoint(next[i], projections_[i]->version()));
    }
  }
  // Views are derived from the durable log and resume from their checkpoint,
  // so this write needs no fsync of its own.
  Status s = Status::FromRocks(log_.db()->Write(rocksdb::WriteOptions(), batch.GetWriteBatch()),
                               "writing views");
  if (!s.ok()) return s;
  checkpoints_ = next;
  RecomputeApplied();
  return static_cast<size_t>(events->back().lsn - from + 1);
}

Status Projector::CatchUp(const std::function<void(uint64_t, uint64_t)>& progress) {
  const uint64_t target = log_.LastLsn();
  while (AppliedLsn() < target) {
    Result<size_t> n = Step(kChunkEvents);
    if (!n.ok()) return n.status();
    if (progress) progress(AppliedLsn(), target);
    if (*n == 0) {
      std::lock_guard<std::mutex> l(mu_);
      for (size_t i = 0; i < errors_.size(); ++i) {
        if (!errors_[i].empty()) {
          return Status::Corruption("view " + std::string(projections_[i]->name()) +
                                    " stopped: " + errors_[i]);
        }
      }
      if (AppliedLsn() < target) return Status::Corruption("projector made no progress");
    }
  }
  return Status::OK();
}

Status Projector::Reset(std::string_view name) {
  std::lock_guard<std::mutex> l(mu_);
  rocksdb::WriteBatch wb;
  bool found = false;
  for (size_t i = 0; i < projections_.size(); ++i) {
    const Projection& p = *projections_[i];
    if (!name.empty() && p.name() != name) continue;
    found = true;
    const std::string begin = ViewPrefix(p.name());
    (void)wb.DeleteRange(log_.views_cf(), begin, PrefixEnd(begin));
    (void)wb.Put(log_.meta_cf(), CheckpointKey(p.name()), EncodeCheckpoint(0, p.version()));
  }
  if (!found) return Status::NotFound("no view named '" + std::string(name) + "'");
  rocksdb::WriteOptions wo;
  wo.sync = true;
  Status s = Status::FromRocks(log_.db()->Write(wo, &wb), "resetting views");
  if (!s.ok()) return s;
  for (size_t i = 0; i < projections_.size(); ++i) {
    if (!name.empty() && projections_[i]->name() != name) continue;
    checkpoints_[i] = 0;
    errors_[i].clear();
  }
  RecomputeApplied();
  return Status::OK();
}

void Projector::Start() {
  if (thread_.joinable()) return;
  stop_.store(false);
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "lb-projector");
    Loop();
  });
}

void Projector::Stop() {
  stop_.store(true);
  log_.NotifyWaiters();
  if (thread_.joinable()) thread_.join();
}

void Projector::Loop() {
  while (!stop_.load()) {
    const uint64_t next = AppliedLsn() + 1;
    if (log_.LastLsn() < next) {
      (void)log_.WaitForLsn(next, std::chrono::seconds(1), &stop_);  // any outcome: re-check
      continue;
    }
    Result<size_t> n = Step(kChunkEvents);
    if (!n.ok() || *n == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    } else if (*n < kLingerEvents && waiters_.load() == 0) {
      // Under a steady stream of small group commits, a step per commit
      // costs more in fixed overhead (an iterator, a WriteBatch, a wake-up)
      // than in folding. Lingering briefly lets a few commits gather into
      // one step. Views lag by at most the linger more; no linger starts
      // while a reader waits in WaitFor.
      std::this_thread::sleep_for(kLinger);
    }
  }
}

Status Projector::WaitFor(uint64_t lsn, std::chrono::milliseconds timeout) {
  if (AppliedLsn() >= lsn) return Status::OK();
  waiters_.fetch_add(1);
  struct Leave {
    std::atomic<int>& n;
    ~Leave() { n.fetch_sub(1); }
  } leave{waiters_};
  std::unique_lock<std::mutex> l(mu_);
  if (!applied_cv_.wait_for(l, timeout, [&] { return AppliedLsn() >= lsn; })) {
    return Status::TimedOut("views reached LSN " + std::to_string(AppliedLsn()) + ", not " +
                            std::to_string(lsn) + ", within " + std::to_string(timeout.count()) +
                            " ms");
  }
  return Status::OK();
}

std::vector<ViewStatus> Projector::GetStatus() const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<ViewStatus> out;
  const uint64_t last = log_.LastLsn();
  for (size_t i = 0; i < projections_.size(); ++i) {
    out.push_back({std::string(projections_[i]->name()), projections_[i]->version(),
                   checkpoints_[i], last > checkpoints_[i] ? last - checkpoints_[i] : 0,
                   errors_[i]});
  }
  return out;
}

Projection* Projector::Find(std::string_view name) const {
  for (const auto& p : projections_) {
    if (p->name() == name) return p.get();
  }
  return nullptr;
}

}  // namespace logbook
