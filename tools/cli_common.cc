#include "tools/cli_common.h"

#include <unistd.h>

#include <cstdio>

namespace logbook::cli {

int ExitCodeFor(const Status& s) {
  switch (s.code()) {
    case Status::Code::kOk: return kExitOk;
    case Status::Code::kInvalidArgument: return kExitBadInput;
    case Status::Code::kNotFound: return kExitNotFound;
    case Status::Code::kConflict:
    case Status::Code::kIdempotencyConflict: return kExitConflict;
    case Status::Code::kHeld: return kExitHold;
    case Status::Code::kCorruption: return kExitCorruption;
    case Status::Code::kBusy:
    case Status::Code::kReadOnly:
    case Status::Code::kTimedOut:
    case Status::Code::kShutdown: return kExitUnavailable;
    case Status::Code::kIOError: return kExitError;
  }
  return kExitError;
}

int Fail(const Status& s) {
  std::fprintf(stderr, "logbook: %s\n", s.ToString().c_str());
  return ExitCodeFor(s);
}

int FailUsage(const std::string& message) {
  std::fprintf(stderr, "logbook: usage: %s\n", message.c_str());
  return kExitUsage;
}

Role CliRole(const GlobalFlags& g) {
  Role r = Role::kAdmin;
  if (!ParseRole(g.role, &r)) return Role::kAdmin;
  return r;
}

int RequireRole(const GlobalFlags& g, std::initializer_list<Role> allowed, const char* what) {
  Role r = Role::kNone;
  if (!ParseRole(g.role, &r) || r == Role::kNone) {
    return FailUsage("unknown --role '" + g.role +
                     "' (viewer, operator, admin, auditor or compliance)");
  }
  for (Role a : allowed) {
    if (a == r) return kExitOk;
  }
  std::string names;
  for (Role a : allowed) names += (names.empty() ? "" : ", ") + std::string(RoleName(a));
  std::fprintf(stderr, "logbook: denied: role %s may not %s (needs %s)\n",
               std::string(RoleName(r)).c_str(), what, names.c_str());
  return kExitDenied;
}

std::string KeyDir(const GlobalFlags& g) {
  if (!g.key_dir.empty()) return g.key_dir;
  std::string d = g.data_dir;
  while (d.size() > 1 && d.back() == '/') d.pop_back();
  return d + ".keys";
}

Result<std::unique_ptr<Engine>> OpenEngine(const GlobalFlags& g, const OpenFlags& f) {
  EngineOptions o;
  o.data_dir = g.data_dir;
  o.key_dir = KeyDir(g);
  o.create_keys = f.create && !g.no_encryption;
  o.create_if_missing = f.create;
  o.read_only = f.mode == OpenMode::kReadOnly;
  o.run_projector_thread = f.run_projector;
  o.catch_up_views = f.catch_up_views;
  o.verify_tail_records = f.verify_tail ? 1024 : 0;
  o.sessions = SessionOptionsFrom(g.sessions);
  o.hitl = g.hitl;
  o.costs = g.costs;
  Progress progress("recovering views");
  o.recovery_progress = [&](uint64_t done, uint64_t total) { progress.Update(done, total); };
  Result<std::unique_ptr<Engine>> e = Engine::Open(o);
  if (!e.ok() && e.status().code() == Status::Code::kBusy &&
      f.mode == OpenMode::kPreferReadWrite) {
    o.read_only = true;
    e = Engine::Open(o);
  }
  return e;
}

Progress::Progress(std::string label) : label_(std::move(label)), tty_(isatty(2) == 1) {}

Progress::~Progress() {
  if (shown_) std::fprintf(stderr, "\n");
}

void Progress::Update(uint64_t done, uint64_t total) {
  if (!tty_ || total == 0) return;
  const int64_t now = NowMicros();
  if (now - last_us_ < 200000 && done < total) return;
  last_us_ = now;
  shown_ = true;
  std::fprintf(stderr, "\r%s: %3d%% (%llu/%llu)", label_.c_str(),
               static_cast<int>(100.0 * static_cast<double>(done) / static_cast<double>(total)),
               static_cast<unsigned long long>(done), static_cast<unsigned long long>(total));
  std::fflush(stderr);
}

}  // namespace logbook::cli
