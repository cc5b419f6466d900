// CLI commands of the session lifecycle: session start|turn|show, snapshot
// create|list|restore|delete, recap, export, import, wal list|reconcile|cleanup
// (docs/operations.md "Sessions"). Commands that write need the data
// directory's lock: beside a running `logbook serve`, use the HTTP routes.

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "engine/bundle.h"
#include "tools/cli_common.h"

namespace logbook::cli {

using nlohmann::json;

namespace {

const Actor kCliActor{"cli", Role::kAdmin};

void Print(const json& j) {
  std::printf("%s\n", j.dump(-1, ' ', false, json::error_handler_t::replace).c_str());
}

// "@path" reads the file; "-" reads stdin; anything else is the text itself.
Result<std::string> TextArg(const std::string& v) {
  if (v == "-" || (!v.empty() && v[0] == '@')) {
    std::stringstream ss;
    if (v == "-") {
      ss << std::cin.rdbuf();
    } else {
      std::ifstream in(v.substr(1));
      if (!in) return Status::NotFound("cannot read " + v.substr(1));
      ss << in.rdbuf();
    }
    return ss.str();
  }
  return v;
}

Result<std::unique_ptr<Engine>> Open(const GlobalFlags& g, bool write) {
  OpenFlags f;
  f.mode = write ? OpenMode::kReadWrite : OpenMode::kPreferReadWrite;
  return OpenEngine(g, f);
}

}  // namespace

SessionOptions SessionOptionsFrom(const SessionFlags& f) {
  SessionOptions o;
  o.default_ttl_us = f.ttl_seconds * 1000000;
  o.snapshot_max_count = f.snapshot_max_count;
  o.snapshot_max_age_us = static_cast<int64_t>(f.snapshot_max_age_days * 86400.0 * 1e6);
  o.recap_max_sentences = f.recap_max_sentences;
  o.recap_max_words = f.recap_max_words;
  o.bundle_max_bytes = static_cast<uint64_t>(f.bundle_max_mb * 1024 * 1024);
  o.redaction_rules_file = f.redaction_rules;
  o.sweep_interval = std::chrono::seconds(std::max<int64_t>(f.sweep_seconds, 0));
  o.recover_on_open = f.recover_on_open;
  return o;
}

void AddSessionCommands(CLI::App& app, GlobalFlags& g, Runner* run) {
  // ---- settings (global flags, so `serve` and every command share them)
  SessionFlags& sf = g.sessions;
  const std::string grp = "Sessions";
  app.add_option("--session-ttl-seconds", sf.ttl_seconds,
                 "TTL of a session started without one (0: none)")
      ->envname("LOGBOOK_SESSION_TTL_SECONDS")
      ->capture_default_str()
      ->group(grp);
  app.add_option("--snapshot-max-count", sf.snapshot_max_count,
                 "Snapshots kept per session (0: no limit)")
      ->envname("LOGBOOK_SNAPSHOT_MAX_COUNT")
      ->capture_default_str()
      ->group(grp);
  app.add_option("--snapshot-max-age-days", sf.snapshot_max_age_days,
                 "Snapshots older are deleted (0: no limit)")
      ->envname("LOGBOOK_SNAPSHOT_MAX_AGE_DAYS")
      ->capture_default_str()
      ->group(grp);
  app.add_option("--recap-max-sentences", sf.recap_max_sentences, "Recap sentences at most (2..)")
      ->envname("LOGBOOK_RECAP_MAX_SENTENCES")
      ->capture_default_str()
      ->group(grp);
  app.add_option("--recap-max-words", sf.recap_max_words, "Words per recap sentence at most")
      ->envname("LOGBOOK_RECAP_MAX_WORDS")
      ->capture_default_str()
      ->group(grp);
  app.add_option("--bundle-max-mb", sf.bundle_max_mb, "Largest export/import bundle in MiB")
      ->envname("LOGBOOK_BUNDLE_MAX_MB")
      ->capture_default_str()
      ->group(grp);
  app.add_option("--redaction-rules", sf.redaction_rules, "JSON file of extra redaction rules")
      ->envname("LOGBOOK_REDACTION_RULES")
      ->group(grp);
  app.add_option("--session-sweep-seconds", sf.sweep_seconds,
                 "serve: period of the expiry and snapshot-age sweep (0: off)")
      ->envname("LOGBOOK_SESSION_SWEEP_SECONDS")
      ->capture_default_str()
      ->group(grp);

  // ---- session start|turn|show
  auto* session = app.add_subcommand("session", "Start a session, run a turn, show a session");
  session->require_subcommand(1);
  struct StartFlags {
    std::string tenant, id, user, channel, kind, metadata;
    int64_t ttl_seconds = -1;
  };
  auto stf = std::make_shared<StartFlags>();
  auto* start = session->add_subcommand(
      "start", "Start a session (appends SessionStarted); prints its header");
  start->add_option("--tenant", stf->tenant, "Tenant")->required();
  start->add_option("--id", stf->id, "Session id (default: a new UUID)");
  start->add_option("--user", stf->user, "End user");
  start->add_option("--channel", stf->channel, "Channel, e.g. web");
  start->add_option("--kind", stf->kind, "Kind, e.g. awf");
  start->add_option("--ttl-seconds", stf->ttl_seconds,
                    "TTL (default --session-ttl-seconds; 0: none)");
  start->add_option("--metadata", stf->metadata, "Metadata JSON object, @file or -");
  start->callback([&g, run, stf] {
    *run = [&g, stf] {
      StartSessionInput in;
      in.session_id = stf->id;
      in.user = stf->user;
      in.channel = stf->channel;
      in.kind = stf->kind;
      if (stf->ttl_seconds >= 0) in.ttl_us = stf->ttl_seconds * 1000000;
      if (!stf->metadata.empty()) {
        Result<std::string> m = TextArg(stf->metadata);
        if (!m.ok()) return Fail(m.status());
        in.metadata_json = *m;
      }
      Result<std::unique_ptr<Engine>> e = Open(g, true);
      if (!e.ok()) return Fail(e.status());
      Result<json> h = (*e)->sessions().Start(stf->tenant, kCliActor, in);
      if (!h.ok()) return Fail(h.status());
      Print(*h);
      return kExitOk;
    };
  });

  struct TurnFlags {
    std::string session, turn_id, acts = "[]", awf;
  };
  auto tf = std::make_shared<TurnFlags>();
  auto* turn = session->add_subcommand(
      "turn",
      "Run one turn: TurnProposed, then TurnApplied when the acts (RFC 6902 JSON Patch on the\n"
      "session state) apply, else TurnRolledBack with the reason. Prints the outcome.");
  turn->add_option("--session", tf->session, "Session id")->required();
  turn->add_option("--turn-id", tf->turn_id, "Turn id (default: a new UUID)");
  turn->add_option("--acts", tf->acts, "JSON Patch array, @file or -")->capture_default_str();
  turn->add_option("--awf", tf->awf, "Raw AWF document (JSON), @file or -");
  turn->callback([&g, run, tf] {
    *run = [&g, tf] {
      Result<std::string> acts = TextArg(tf->acts);
      if (!acts.ok()) return Fail(acts.status());
      std::string awf;
      if (!tf->awf.empty()) {
        Result<std::string> a = TextArg(tf->awf);
        if (!a.ok()) return Fail(a.status());
        awf = *a;
      }
      Result<std::unique_ptr<Engine>> e = Open(g, true);
      if (!e.ok()) return Fail(e.status());
      Result<TurnOutcome> o =
          (*e)->sessions().SubmitTurn(kCliActor, {tf->session, tf->turn_id, awf, *acts});
      if (!o.ok()) return Fail(o.status());
      Print(o->ToJson());
      return kExitOk;
    };
  });

  auto showf = std::make_shared<std::string>();
  auto* show = session->add_subcommand(
      "show", "Print a session: header, state, pins, memory, objectives, turns");
  show->add_option("--session", *showf, "Session id")->required();
  show->callback([&g, run, showf] {
    *run = [&g, showf] {
      Result<std::unique_ptr<Engine>> e = Open(g, false);
      if (!e.ok()) return Fail(e.status());
      Result<json> v = (*e)->sessions().View(*showf);
      if (!v.ok()) return Fail(v.status());
      Print(*v);
      return kExitOk;
    };
  });

  // ---- snapshot create|list|restore|delete
  auto* snapshot = app.add_subcommand("snapshot", "Content-hashed snapshots of a session's state");
  snapshot->require_subcommand(1);
  struct SnapFlags {
    std::string session, label, id;
  };
  auto snf = std::make_shared<SnapFlags>();
  auto* create = snapshot->add_subcommand(
      "create", "Snapshot the session (the same state twice gives the existing snapshot)");
  create->add_option("--session", snf->session, "Session id")->required();
  create->add_option("--label", snf->label, "Label");
  create->callback([&g, run, snf] {
    *run = [&g, snf] {
      Result<std::unique_ptr<Engine>> e = Open(g, true);
      if (!e.ok()) return Fail(e.status());
      Result<SnapshotResult> r =
          (*e)->sessions().CreateSnapshot(kCliActor, snf->session, snf->label);
      if (!r.ok()) return Fail(r.status());
      Print(
          {{"created", r->created}, {"snapshot", r->snapshot}, {"deleted_by_limits", r->deleted}});
      return kExitOk;
    };
  });
  auto* list = snapshot->add_subcommand("list", "List a session's snapshots, oldest first");
  list->add_option("--session", snf->session, "Session id")->required();
  list->callback([&g, run, snf] {
    *run = [&g, snf] {
      Result<std::unique_ptr<Engine>> e = Open(g, false);
      if (!e.ok()) return Fail(e.status());
      Result<json> r = (*e)->sessions().ListSnapshots(snf->session);
      if (!r.ok()) return Fail(r.status());
      for (const json& s : (*r)["snapshots"]) Print(s);
      return kExitOk;
    };
  });
  auto* restore = snapshot->add_subcommand(
      "restore", "Reset the session to a snapshot (verified against its content hash)");
  restore->add_option("--session", snf->session, "Session id")->required();
  restore->add_option("--snapshot", snf->id, "Snapshot id")->required();
  restore->callback([&g, run, snf] {
    *run = [&g, snf] {
      Result<std::unique_ptr<Engine>> e = Open(g, true);
      if (!e.ok()) return Fail(e.status());
      Result<json> r = (*e)->sessions().RestoreSnapshot(kCliActor, snf->session, snf->id);
      if (!r.ok()) return Fail(r.status());
      Print(*r);
      return kExitOk;
    };
  });
  auto* del = snapshot->add_subcommand("delete", "Delete a snapshot (appends SnapshotDeleted)");
  del->add_option("--session", snf->session, "Session id")->required();
  del->add_option("--snapshot", snf->id, "Snapshot id")->required();
  del->callback([&g, run, snf] {
    *run = [&g, snf] {
      Result<std::unique_ptr<Engine>> e = Open(g, true);
      if (!e.ok()) return Fail(e.status());
      if (Status s = (*e)->sessions().DeleteSnapshot(kCliActor, snf->session, snf->id); !s.ok()) {
        return Fail(s);
      }
      Print({{"deleted", snf->id}});
      return kExitOk;
    };
  });

  // ---- recap
  struct RecapFlags {
    std::string session;
    int64_t last_turns = -1;
    bool json_out = false;
  };
  auto rf = std::make_shared<RecapFlags>();
  auto* recap = app.add_subcommand(
      "recap", "Deterministic recap of a session: pins, episodic memory, last turns, objectives");
  recap->add_option("--session", rf->session, "Session id")->required();
  recap->add_option("--last-turns", rf->last_turns, "Turns to consider (default 3)");
  recap->add_flag("--json", rf->json_out, "Print JSON with the sentences and their sources");
  recap->callback([&g, run, rf] {
    *run = [&g, rf] {
      Result<std::unique_ptr<Engine>> e = Open(g, false);
      if (!e.ok()) return Fail(e.status());
      std::optional<size_t> k;
      if (rf->last_turns >= 0) k = static_cast<size_t>(rf->last_turns);
      Result<Recap> r = (*e)->sessions().BuildRecap(rf->session, k);
      if (!r.ok()) return Fail(r.status());
      if (rf->json_out) {
        Print(r->ToJson());
      } else {
        std::printf("%s\n", r->text.c_str());
      }
      return kExitOk;
    };
  });

  // ---- export
  struct ExportFlags {
    std::string session, output, strategy, rules;
    bool no_redact = false;
    double max_mb = 0;
  };
  auto ef = std::make_shared<ExportFlags>();
  auto* exp = app.add_subcommand(
      "export",
      "Write a session bundle (JSON Lines: header, events, snapshots, manifest with hashes),\n"
      "redacted by default. Streams to the file, which appears only when complete.");
  exp->add_option("--session", ef->session, "Session id")->required();
  exp->add_option("--output,-o", ef->output, "Bundle file ('-': stdout)")->required();
  exp->add_flag("--no-redact", ef->no_redact, "Export the data as stored (no redaction)");
  exp->add_option("--strategy", ef->strategy, "label|mask|partial for every rule (default label)");
  exp->add_option("--rules", ef->rules, "Redaction rules file (default --redaction-rules)");
  exp->add_option("--max-mb", ef->max_mb, "Size limit in MiB (default --bundle-max-mb)");
  exp->callback([&g, run, ef] {
    *run = [&g, ef] {
      ExportOptions o;
      o.redact = !ef->no_redact;
      o.rules_file = ef->rules;
      if (ef->max_mb > 0) o.max_bytes = static_cast<uint64_t>(ef->max_mb * 1024 * 1024);
      if (!ef->strategy.empty()) {
        RedactStrategy s;
        if (!ParseRedactStrategy(ef->strategy, &s)) {
          return FailUsage("--strategy must be label, mask or partial");
        }
        o.strategy = s;
      }
      Result<std::unique_ptr<Engine>> e = Open(g, false);
      if (!e.ok()) return Fail(e.status());
      if (ef->output == "-") {
        Result<ExportSummary> r = ExportSession(**e, ef->session, std::cout, o);
        if (!r.ok()) return Fail(r.status());
        std::fprintf(stderr, "%s\n", r->ToJson().dump().c_str());
        return kExitOk;
      }
      const std::string tmp = ef->output + ".partial";
      Result<ExportSummary> r = Status::IOError("the export did not run");
      {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) return Fail(Status::IOError("cannot write " + tmp));
        r = ExportSession(**e, ef->session, out, o);
        out.close();
        if (r.ok() && !out) r = Status::IOError("writing " + tmp + " failed");
      }
      std::error_code ec;
      if (!r.ok()) {
        std::filesystem::remove(tmp, ec);
        return Fail(r.status());
      }
      std::filesystem::rename(tmp, ef->output, ec);
      if (ec) return Fail(Status::IOError("renaming " + tmp + ": " + ec.message()));
      json j = r->ToJson();
      j["file"] = ef->output;
      Print(j);
      return kExitOk;
    };
  });

  // ---- import
  struct ImportFlags {
    std::string file, tenant, session_id;
    bool preserve = false;
    double max_mb = 0;
  };
  auto imf = std::make_shared<ImportFlags>();
  auto* imp = app.add_subcommand(
      "import",
      "Validate a bundle (version, every hash, counts, state hashes) and create a sandbox\n"
      "session with a new id from it. A bundle that fails any check changes nothing.");
  imp->add_option("--file,-f", imf->file, "Bundle file")->required();
  imp->add_flag("--preserve-turn-id", imf->preserve, "Keep the bundle's turn ids");
  imp->add_option("--tenant", imf->tenant, "Tenant of the sandbox (default: the bundle's)");
  imp->add_option("--session-id", imf->session_id, "Id of the sandbox (default: a new UUID)");
  imp->add_option("--max-mb", imf->max_mb, "Size limit in MiB (default --bundle-max-mb)");
  imp->callback([&g, run, imf] {
    *run = [&g, imf] {
      if (!std::filesystem::exists(imf->file)) {
        return Fail(Status::NotFound("bundle file '" + imf->file + "' not found"));
      }
      ImportOptions o;
      o.preserve_turn_ids = imf->preserve;
      o.tenant = imf->tenant;
      o.session_id = imf->session_id;
      if (imf->max_mb > 0) o.max_bytes = static_cast<uint64_t>(imf->max_mb * 1024 * 1024);
      Result<std::unique_ptr<Engine>> e = Open(g, true);
      if (!e.ok()) return Fail(e.status());
      const std::string path = imf->file;
      Result<ImportSummary> r = ImportSession(
          **e, kCliActor,
          [path]() -> std::unique_ptr<std::istream> {
            return std::make_unique<std::ifstream>(path, std::ios::binary);
          },
          o);
      if (!r.ok()) return Fail(r.status());
      Print(r->ToJson());
      return kExitOk;
    };
  });

  // ---- wal list|reconcile|cleanup
  auto* wal = app.add_subcommand("wal", "The turn write-ahead log: list, reconcile, cleanup");
  wal->require_subcommand(1);
  struct WalFlags {
    std::string session;
    bool pending = false;
    double days = -1;
  };
  auto wf = std::make_shared<WalFlags>();
  auto* wlist = wal->add_subcommand(
      "list", "WAL entries of a session, or the pending entries of every session");
  wlist->add_option("--session", wf->session, "Session id (default: pending entries of all)");
  wlist->add_flag("--pending", wf->pending, "Only entries without an outcome");
  wlist->callback([&g, run, wf] {
    *run = [&g, wf] {
      Result<std::unique_ptr<Engine>> e = Open(g, false);
      if (!e.ok()) return Fail(e.status());
      Result<json> r = wf->session.empty() ? (*e)->sessions().ListPending()
                                           : (*e)->sessions().ListWal(wf->session, wf->pending);
      if (!r.ok()) return Fail(r.status());
      const json& entries = wf->session.empty() ? *r : (*r)["entries"];
      for (const json& x : entries) Print(x);
      return kExitOk;
    };
  });
  auto* reconcile = wal->add_subcommand(
      "reconcile",
      "Settle turns proposed without an outcome: apply when the state still matches the\n"
      "proposal and the acts apply, else roll back with the reason. Idempotent; audited.");
  reconcile->add_option("--session", wf->session, "Only this session");
  reconcile->callback([&g, run, wf] {
    *run = [&g, wf] {
      // Opening the engine would reconcile as "system/recovery" without a
      // report: open without it, reconcile as the CLI, then expire.
      GlobalFlags g2 = g;
      g2.sessions.recover_on_open = false;
      Result<std::unique_ptr<Engine>> e = Open(g2, true);
      if (!e.ok()) return Fail(e.status());
      Result<std::vector<TurnOutcome>> r = (*e)->sessions().Reconcile(kCliActor, wf->session);
      if (!r.ok()) return Fail(r.status());
      if (Result<size_t> x = (*e)->sessions().SweepExpired(); !x.ok()) return Fail(x.status());
      for (const TurnOutcome& o : *r) Print(o.ToJson());
      std::fprintf(stderr, "wal reconcile: %zu turn(s) settled\n", r->size());
      return kExitOk;
    };
  });
  auto* cleanup = wal->add_subcommand(
      "cleanup",
      "Drop entries settled more than N days ago from the view (the log keeps the turns)");
  cleanup->add_option("--days", wf->days, "Age in days")->required();
  cleanup->callback([&g, run, wf] {
    *run = [&g, wf] {
      if (wf->days < 0) return FailUsage("--days must not be negative");
      Result<std::unique_ptr<Engine>> e = Open(g, true);
      if (!e.ok()) return Fail(e.status());
      Result<size_t> n =
          (*e)->sessions().CleanupWal(kCliActor, static_cast<int64_t>(wf->days * 86400.0 * 1e6));
      if (!n.ok()) return Fail(n.status());
      Print({{"removed", *n}});
      return kExitOk;
    };
  });
}

}  // namespace logbook::cli
