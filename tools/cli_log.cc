// CLI commands that write and read the log: init, append, read, tail, replay.

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <thread>

#include "log/event_types.h"
#include "tools/cli_common.h"

namespace logbook::cli {

namespace {

volatile std::sig_atomic_t g_interrupted = 0;

void PrintJsonLine(const nlohmann::json& j) {
  std::string s = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  s.push_back('\n');
  std::fwrite(s.data(), 1, s.size(), stdout);
}

void PrintTextLine(std::string s) {
  s.push_back('\n');
  std::fwrite(s.data(), 1, s.size(), stdout);
}

bool ParseExpectedVersion(const std::string& text, ExpectedVersion* out) {
  if (text.empty() || text == "any") {
    *out = ExpectedVersion::Any();
  } else if (text == "no_stream" || text == "no-stream") {
    *out = ExpectedVersion::NoStream();
  } else if (text.find_first_not_of("0123456789") == std::string::npos && text.size() < 20) {
    *out = ExpectedVersion::Exact(std::stoull(text));
  } else {
    return false;
  }
  return true;
}

// Reads events as JSON lines: {"type": "...", "payload": {...}, "event_id": "..."}.
Status ReadEventLines(std::istream& in, std::vector<EventInput>* out) {
  std::string line;
  size_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    const std::string where = "stdin line " + std::to_string(n) + ": ";
    if (j.is_discarded()) return Status::InvalidArgument(where + "malformed JSON");
    if (!j.is_object()) return Status::InvalidArgument(where + "expected a JSON object");
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (it.key() != "type" && it.key() != "payload" && it.key() != "event_id") {
        return Status::InvalidArgument(where + "unknown field '" + it.key() +
                                       "' (expected type, payload, event_id)");
      }
    }
    if (!j.contains("type") || !j["type"].is_string()) {
      return Status::InvalidArgument(where + "\"type\" must be a string");
    }
    EventInput e;
    e.type = j["type"].get<std::string>();
    if (j.contains("event_id")) {
      if (!j["event_id"].is_string()) return Status::InvalidArgument(where + "\"event_id\" must be a string");
      e.event_id = j["event_id"].get<std::string>();
    }
    if (j.contains("payload")) {
      if (!j["payload"].is_object()) return Status::InvalidArgument(where + "\"payload\" must be an object");
      e.payload_json = j["payload"].dump();
    }
    out->push_back(std::move(e));
  }
  if (out->empty()) return Status::InvalidArgument("no events on stdin");
  return Status::OK();
}

}  // namespace

void AddLogCommands(CLI::App& app, GlobalFlags& g, Runner* run) {
  // ---- init
  auto* init = app.add_subcommand("init", "Create a data directory and its log (idempotent)");
  init->callback([&g, run] {
    *run = [&g] {
      const bool existed = std::filesystem::exists(std::filesystem::path(g.data_dir) / "CURRENT");
      OpenFlags f;
      f.create = true;
      Result<std::unique_ptr<Engine>> e = OpenEngine(g, f);
      if (!e.ok()) return Fail(e.status());
      std::printf("%s logbook data directory %s (log format 1, last LSN %llu)\n",
                  existed ? "already initialised:" : "initialised",
                  std::filesystem::absolute(g.data_dir).c_str(),
                  static_cast<unsigned long long>((*e)->log().LastLsn()));
      if (const KeyRing* ring = (*e)->keyring(); ring != nullptr) {
        std::printf("encryption: tenants' payloads are encrypted; keys in %s "
                    "(master key %u). Back it up separately from the data directory.\n",
                    std::filesystem::absolute(ring->dir()).c_str(), ring->master_key_id());
      } else {
        std::printf("encryption: off (payloads are stored in plaintext)\n");
      }
      return kExitOk;
    };
  });

  // ---- append
  struct AppendFlags {
    std::string stream, tenant, actor = "cli", role = "operator", expected = "any";
    std::string type, payload, event_id;
  };
  auto af = std::make_shared<AppendFlags>();
  auto* append = app.add_subcommand(
      "append",
      "Append events to one stream atomically. With --type, one event from the flags;\n"
      "otherwise JSON lines on stdin: {\"type\":\"...\",\"payload\":{...},\"event_id\":\"uuid\"}.\n"
      "Prints the result as one JSON line; re-sending the same event ids returns the\n"
      "original result.");
  append->add_option("--stream", af->stream, "Stream name, e.g. session/42")->required();
  append->add_option("--tenant", af->tenant, "Tenant of the stream");
  append->add_option("--actor", af->actor, "Principal recorded with the events")->capture_default_str();
  append->add_option("--role", af->role, "Role of the principal")->capture_default_str();
  append->add_option("--expected-version", af->expected, "any | no_stream | N")->capture_default_str();
  append->add_option("--type", af->type, "Event type, e.g. SessionStarted");
  append->add_option("--payload", af->payload, "Payload JSON object (with --type)");
  append->add_option("--event-id", af->event_id, "Event id UUID (with --type); default random");
  append->callback([&g, run, af] {
    *run = [&g, af] {
      ExpectedVersion ev;
      if (!ParseExpectedVersion(af->expected, &ev)) {
        return FailUsage("--expected-version must be any, no_stream or a number");
      }
      Actor actor{af->actor, Role::kNone};
      if (!ParseRole(af->role, &actor.role)) return FailUsage("unknown --role '" + af->role + "'");
      std::vector<EventInput> events;
      if (!af->type.empty()) {
        events.push_back({af->type, af->event_id, af->payload});
      } else {
        if (!af->payload.empty() || !af->event_id.empty()) {
          return FailUsage("--payload and --event-id need --type");
        }
        Status s = ReadEventLines(std::cin, &events);
        if (!s.ok()) return Fail(s);
      }
      Result<std::unique_ptr<Engine>> e = OpenEngine(g, OpenFlags{});
      if (!e.ok()) return Fail(e.status());
      Result<AppendResult> r = (*e)->AppendJson(af->stream, af->tenant, actor, ev, events);
      if (!r.ok()) return Fail(r.status());
      nlohmann::json ids = nlohmann::json::array();
      for (const auto& id : r->event_ids) ids.push_back(EventIdToString(id));
      PrintJsonLine({{"stream", af->stream},
                     {"first_lsn", r->first_lsn},
                     {"last_lsn", r->last_lsn},
                     {"first_version", r->first_version},
                     {"version", r->last_version},
                     {"deduplicated", r->deduplicated},
                     {"event_ids", ids}});
      // Keep the views current for the next reader.
      Status s = (*e)->projector().CatchUp();
      if (!s.ok()) return Fail(s);
      return kExitOk;
    };
  });

  // ---- read
  struct ReadFlags {
    std::string stream;
    uint64_t from_lsn = 1, from_version = 1;
    uint64_t limit = UINT64_MAX;
  };
  auto rf = std::make_shared<ReadFlags>();
  auto* read = app.add_subcommand(
      "read", "Print events as JSON lines: the global feed by LSN, or one stream by version");
  read->add_option("--stream", rf->stream, "Read this stream instead of the global feed");
  read->add_option("--from-lsn", rf->from_lsn, "First LSN of the global feed")->capture_default_str();
  read->add_option("--from-version", rf->from_version, "First version of --stream")
      ->capture_default_str();
  read->add_option("--limit", rf->limit, "At most this many events");
  read->callback([&g, run, rf] {
    *run = [&g, rf] {
      OpenFlags f;
      f.mode = OpenMode::kPreferReadWrite;
      Result<std::unique_ptr<Engine>> e = OpenEngine(g, f);
      if (!e.ok()) return Fail(e.status());
      Log& log = (*e)->log();
      if (!rf->stream.empty()) {
        if (Status s = ValidateStreamName(rf->stream); !s.ok()) return FailUsage(s.message());
        if (!log.GetStreamHead(rf->stream).ok()) {
          return Fail(Status::NotFound("stream '" + rf->stream + "' not found"));
        }
      }
      uint64_t left = rf->limit;
      uint64_t next = rf->stream.empty() ? rf->from_lsn : rf->from_version;
      while (left > 0) {
        const size_t chunk = static_cast<size_t>(std::min<uint64_t>(left, 1024));
        Result<std::vector<Event>> batch = rf->stream.empty() ? log.ReadAll(next, chunk)
                                                              : log.ReadStream(rf->stream, next, chunk);
        if (!batch.ok()) return Fail(batch.status());
        for (const Event& ev : *batch) PrintTextLine(Engine::EventToJsonText(ev));
        if (batch->size() < chunk) break;
        left -= batch->size();
        next = rf->stream.empty() ? batch->back().lsn + 1 : batch->back().stream_version + 1;
      }
      return kExitOk;
    };
  });

  // ---- tail
  struct TailFlags {
    bool follow = false;
    uint64_t lines = 10;
    uint64_t from_lsn = 0;
    uint64_t poll_ms = 200;
  };
  auto tf = std::make_shared<TailFlags>();
  auto* tail = app.add_subcommand(
      "tail", "Print the last events of the global feed; -f follows new events (works beside a "
              "running server; stop with Ctrl-C)");
  tail->add_flag("-f,--follow", tf->follow, "Follow new events");
  tail->add_option("-n,--lines", tf->lines, "Start this many events before the end")
      ->capture_default_str();
  tail->add_option("--from-lsn", tf->from_lsn, "Start at this LSN instead");
  tail->add_option("--poll-ms", tf->poll_ms, "Follow: how often to look for new events")
      ->capture_default_str();
  tail->callback([&g, run, tf] {
    *run = [&g, tf] {
      OpenFlags f;
      f.mode = OpenMode::kReadOnly;
      Result<std::unique_ptr<Engine>> e = OpenEngine(g, f);
      if (!e.ok()) return Fail(e.status());
      Log& log = (*e)->log();
      const uint64_t last = log.LastLsn();
      uint64_t next = tf->from_lsn > 0 ? tf->from_lsn : (last > tf->lines ? last - tf->lines + 1 : 1);
      std::signal(SIGINT, [](int) { g_interrupted = 1; });
      std::signal(SIGTERM, [](int) { g_interrupted = 1; });
      while (!g_interrupted) {
        Result<std::vector<Event>> batch = log.ReadAll(next, 1024);
        if (!batch.ok()) return Fail(batch.status());
        for (const Event& ev : *batch) PrintTextLine(Engine::EventToJsonText(ev));
        std::fflush(stdout);
        if (!batch->empty()) {
          next = batch->back().lsn + 1;
          continue;
        }
        if (!tf->follow) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(tf->poll_ms));
        if (Status s = log.Refresh(); !s.ok()) return Fail(s);
      }
      return kExitOk;
    };
  });

  // ---- replay
  struct ReplayFlags {
    std::string stream, view, as_of;
    uint64_t as_of_lsn = UINT64_MAX;
  };
  auto pf = std::make_shared<ReplayFlags>();
  auto* replay = app.add_subcommand(
      "replay",
      "Time travel: print a stream or a view as it stood at an LSN or a time, as JSON.\n"
      "Views: stream_stats, audit_index. Without --as-of*, the latest state.");
  auto* o_stream = replay->add_option("--stream", pf->stream, "Replay this stream");
  auto* o_view = replay->add_option("--view", pf->view, "Replay this view from LSN 1");
  o_stream->excludes(o_view);
  auto* o_lsn = replay->add_option("--as-of-lsn", pf->as_of_lsn, "State after this LSN");
  replay->add_option("--as-of", pf->as_of, "State at this time (RFC 3339 UTC, e.g. 2026-11-26T08:00:00Z)")
      ->excludes(o_lsn);
  replay->callback([&g, run, pf] {
    *run = [&g, pf] {
      if (pf->stream.empty() == pf->view.empty()) return FailUsage("give --stream or --view");
      OpenFlags f;
      f.mode = OpenMode::kPreferReadWrite;
      Result<std::unique_ptr<Engine>> e = OpenEngine(g, f);
      if (!e.ok()) return Fail(e.status());
      uint64_t lsn = pf->as_of_lsn;
      if (!pf->as_of.empty()) {
        int64_t us = 0;
        if (!ParseTimestamp(pf->as_of, &us)) {
          return FailUsage("--as-of '" + pf->as_of + "' is not an RFC 3339 UTC time");
        }
        Result<uint64_t> at = (*e)->LsnAtTime(us);
        if (!at.ok()) return Fail(at.status());
        lsn = *at;
      }
      lsn = std::min(lsn, (*e)->log().LastLsn());
      Progress progress("replaying " + pf->view);
      Result<nlohmann::json> out =
          !pf->stream.empty()
              ? (*e)->ReplayStream(pf->stream, lsn)
              : (*e)->ReplayView(pf->view, lsn,
                                 [&](uint64_t d, uint64_t t) { progress.Update(d, t); });
      if (!out.ok()) return Fail(out.status());
      std::printf("%s\n", out->dump(2).c_str());
      return kExitOk;
    };
  });
}

}  // namespace logbook::cli
