#pragma once
// Projector: applies committed events, in LSN order, to every projection.
//
// Each view's changes and its checkpoint LSN are written in one WriteBatch,
// so a view is exactly-once by construction: after a crash it resumes from
// its checkpoint. The same Step() serves live updates (the background
// thread), recovery (CatchUp on open) and rebuild (checkpoint reset to 0).
// A view whose stored version differs from the code's is rebuilt on Load().
// A projection error stops that view only; Status() reports it.
//
// Thread-safety: all methods may be called from any thread; Step, CatchUp
// and Rebuild are serialised internally.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "log/log.h"
#include "projections/projection.h"

namespace logbook {

struct ViewStatus {
  std::string name;
  uint32_t version = 0;
  uint64_t checkpoint_lsn = 0;
  uint64_t lag = 0;     // log's last LSN minus checkpoint
  std::string error;    // non-empty: the view stopped at checkpoint_lsn + 1
};

class Projector {
 public:
  Projector(Log& log, std::vector<std::unique_ptr<Projection>> projections);
  ~Projector();

  // Reads checkpoints; resets views whose version changed. Needs a writable log.
  Status Load(bool writable);
  // Applies events until every view reached the log's last LSN (as of the
  // call). progress(done_lsn, target_lsn) is called per chunk.
  Status CatchUp(const std::function<void(uint64_t, uint64_t)>& progress = {});
  // Applies at most max_events events; returns how many LSNs were consumed.
  Result<size_t> Step(size_t max_events);
  // Resets one view (or all when name is empty) to LSN 0. The background
  // thread, if running, rebuilds it; otherwise call CatchUp.
  Status Reset(std::string_view name);

  void Start();  // background thread following the log
  void Stop();

  // Lowest checkpoint among healthy views.
  uint64_t AppliedLsn() const { return applied_.load(std::memory_order_acquire); }
  // Waits until AppliedLsn() >= lsn (read-your-writes).
  Status WaitFor(uint64_t lsn, std::chrono::milliseconds timeout);
  std::vector<ViewStatus> GetStatus() const;
  Projection* Find(std::string_view name) const;
  const std::vector<std::unique_ptr<Projection>>& projections() const { return projections_; }

  static std::string CheckpointKey(std::string_view view);

 private:
  void RecomputeApplied();  // requires mu_
  void Loop();

  Log& log_;
  std::vector<std::unique_ptr<Projection>> projections_;
  mutable std::mutex mu_;           // guards the vectors below and serialises steps
  std::vector<uint64_t> checkpoints_;
  std::vector<std::string> errors_;
  std::atomic<uint64_t> applied_{0};
  std::condition_variable applied_cv_;  // with mu_
  std::atomic<bool> stop_{false};
  std::atomic<int> waiters_{0};  // callers inside WaitFor: no lingering then
  std::thread thread_;
};

}  // namespace logbook
