#pragma once
// View "opt_outs": the opt-out registry. An opt-out makes the agent refuse
// an organization (tenant), one member (tenant + user), optionally on one
// channel only, optionally until an expiry.
//
// OptOutSet and OptOutCleared count only on the stream tenant/<tenant>/optouts
// with the payload's tenant equal to the envelope's; others are ignored.
// One opt-out is current per scope (user, channel): a new OptOutSet for the
// same scope replaces it. The fold never reads a clock: expiry is evaluated
// by Check() at query time, against the `now` the caller passes, and expired
// opt-outs stay in the view (and the history) for audit until cleared.
//
// Keys (inside the view); components separated by 0x00, lsn = u64 BE:
//   "a" tenant 0 user 0 channel    -> OptOutEntry (JSON): current opt-out of a scope
//   "o" tenant 0 opt_out_id        -> user 0 channel: where an id is current
//   "h" tenant 0 lsn               -> OptOutHistoryEntry (JSON): every set and clear
// An empty user is the whole organization; an empty channel all channels.
// Check() is at most four point reads, whatever the number of opt-outs.

#include "projections/projection.h"

namespace logbook {

std::string OptOutStream(std::string_view tenant);
constexpr size_t kMaxChannelName = 64;

struct OptOutEntry {
  std::string opt_out_id;
  std::string user;     // "" = the whole organization
  std::string channel;  // "" = every channel
  std::string reason;
  int64_t expires_at_us = 0;  // 0 = never
  int64_t set_at_us = 0;
  std::string by;
  uint64_t lsn = 0;
  // "organization", "organization_channel", "member" or "member_channel".
  std::string Scope() const;
  bool ActiveAt(int64_t now_us) const { return expires_at_us == 0 || now_us < expires_at_us; }
};

struct OptOutHistoryEntry {
  std::string action;   // "set" or "cleared"
  OptOutEntry entry;    // for "cleared": the opt-out it cleared (or the scope it named)
  bool matched = true;  // for "cleared": false when nothing was current
  int64_t at_us = 0;
  std::string by;
  std::string reason;
};

struct OptOutCheck {
  std::vector<OptOutEntry> active;   // most general scope first
  std::vector<OptOutEntry> expired;  // present but past expires_at: ignored
  bool opted_out() const { return !active.empty(); }
};

class OptOutsProjection : public Projection {
 public:
  static constexpr std::string_view kName = "opt_outs";
  std::string_view name() const override { return kName; }
  uint32_t version() const override { return 1; }
  Status Apply(const Event& e, ViewTxn& txn) override;
  Result<nlohmann::json> Dump(ViewReader& reader) override;

  // Is (tenant, user, channel) opted out at now_us? Looks at the scopes that
  // cover it: organization, organization + channel, member, member + channel.
  static Result<OptOutCheck> Check(ViewReader& r, std::string_view tenant, std::string_view user,
                                   std::string_view channel, int64_t now_us);
  static Result<std::optional<OptOutEntry>> Get(ViewReader& r, std::string_view tenant,
                                                std::string_view opt_out_id);
  static Result<std::optional<OptOutEntry>> GetScope(ViewReader& r, std::string_view tenant,
                                                     std::string_view user,
                                                     std::string_view channel);
  // Current opt-outs of a tenant (expired ones included), by user then
  // channel; filtered by user and/or channel when non-empty.
  static Result<std::vector<OptOutEntry>> List(ViewReader& r, std::string_view tenant,
                                               std::string_view user, std::string_view channel);
  // Every set and clear of a tenant from LSN from_lsn on, in log order.
  static Result<std::vector<OptOutHistoryEntry>> History(ViewReader& r, std::string_view tenant,
                                                         std::string_view user,
                                                         std::string_view channel,
                                                         uint64_t from_lsn, size_t limit,
                                                         uint64_t* next_lsn);
};

}  // namespace logbook
