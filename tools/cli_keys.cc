// CLI commands for API keys: keys create|list|revoke. They edit the keys file only; a running
// server picks the changes up when it re-reads the file (KeyStore::ReloadIfChanged).
// And keys rotate: a new encryption master key for the key directory (log/keyring.h).

#include <sodium.h>

#include <cstdio>
#include <filesystem>

#include "api/keys.h"
#include "tools/cli_common.h"

namespace logbook::cli {

void AddKeyCommands(CLI::App& app, GlobalFlags& g, Runner* run);  // declared in tools/cli_common.h

namespace {

struct KeysFlags {
  std::string keys_file;  // "" = <data-dir>/keys.json
  std::string tenant, role, label;
  std::string key_id;
};

std::string KeysPath(const GlobalFlags& g, const KeysFlags& f) {
  if (!f.keys_file.empty()) return f.keys_file;
  return (std::filesystem::path(g.data_dir) / "keys.json").string();
}

// Loads the keys file for list and revoke: a missing file is a one-line kExitNotFound.
Result<std::unique_ptr<api::KeyStore>> LoadExisting(const std::string& path) {
  Result<std::unique_ptr<api::KeyStore>> store = api::KeyStore::Load(path);
  if (!store.ok() && store.status().IsNotFound()) {
    return Status::NotFound("keys file '" + path +
                            "' does not exist (create a key with `logbook keys create`)");
  }
  return store;
}

std::string TenantText(const std::string& tenant) { return tenant.empty() ? "*" : tenant; }

}  // namespace

void AddKeyCommands(CLI::App& app, GlobalFlags& g, Runner* run) {
  auto kf = std::make_shared<KeysFlags>();
  auto* keys = app.add_subcommand(
      "keys",
      "Create, list and revoke API keys. The keys file holds only keyed hashes of the keys;\n"
      "a key's text is printed once, by `keys create`.");
  keys->require_subcommand(1);
  keys->add_option("--keys-file", kf->keys_file, "Keys file (default: <data-dir>/keys.json)")
      ->envname("LOGBOOK_KEYS_FILE");

  // ---- keys create
  auto* create = keys->add_subcommand(
      "create",
      "Create a key for a tenant and role and print it on stdout. It is shown only this once;\n"
      "creates the keys file (mode 0600) if missing.");
  create->add_option("--tenant", kf->tenant, "Tenant the key may act for; '*' = all tenants")
      ->required();
  create->add_option("--role", kf->role, "viewer | operator | admin | auditor | compliance")
      ->required();
  create->add_option("--label", kf->label, "What the key is for, shown by `keys list`");
  create->callback([&g, run, kf] {
    *run = [&g, kf] {
      Role role = Role::kNone;
      if (!ParseRole(kf->role, &role) || role == Role::kNone) {
        return FailUsage("unknown --role '" + kf->role +
                         "' (viewer, operator, admin, auditor or compliance)");
      }
      if (kf->tenant != "*" && !kf->tenant.empty()) {
        if (Status s = ValidateTenantName(kf->tenant); !s.ok()) {
          return FailUsage("--tenant: " + s.message());
        }
      }
      const std::string path = KeysPath(g, *kf);
      Result<std::unique_ptr<api::KeyStore>> store = api::KeyStore::Load(path);
      if (!store.ok() && store.status().IsNotFound()) store = api::KeyStore::CreateEmpty(path);
      if (!store.ok()) return Fail(store.status());
      api::Principal p;
      Result<std::string> key = (*store)->Create(kf->tenant, role, kf->label, &p);
      if (!key.ok() && key.status().IsInvalidArgument()) return FailUsage(key.status().message());
      if (!key.ok()) return Fail(key.status());
      std::printf("%s\n", key->c_str());
      std::fflush(stdout);
      sodium_memzero(key->data(), key->size());
      std::fprintf(stderr,
                   "logbook: created key %s (tenant %s, role %s) in %s; the key above is shown "
                   "only once: store it now\n",
                   p.key_id.c_str(), TenantText(p.tenant).c_str(),
                   std::string(RoleName(p.role)).c_str(), path.c_str());
      return kExitOk;
    };
  });

  // ---- keys list
  auto* list = keys->add_subcommand("list", "List the keys, active and revoked (never a secret)");
  list->callback([&g, run, kf] {
    *run = [&g, kf] {
      Result<std::unique_ptr<api::KeyStore>> store = LoadExisting(KeysPath(g, *kf));
      if (!store.ok()) return Fail(store.status());
      std::printf("%-12s  %-20s  %-10s  %-24s  %-27s  %s\n", "ID", "TENANT", "ROLE", "LABEL",
                  "CREATED", "STATUS");
      for (const api::KeyInfo& k : (*store)->List()) {
        const std::string status =
            k.revoked_at_us == 0 ? "active" : "revoked " + FormatTimestamp(k.revoked_at_us);
        std::printf("%-12s  %-20s  %-10s  %-24s  %-27s  %s\n", k.key_id.c_str(),
                    TenantText(k.tenant).c_str(), std::string(RoleName(k.role)).c_str(),
                    k.label.empty() ? "-" : k.label.c_str(),
                    FormatTimestamp(k.created_at_us).c_str(), status.c_str());
      }
      return kExitOk;
    };
  });

  // ---- keys revoke
  auto* revoke = keys->add_subcommand(
      "revoke",
      "Revoke a key by id. A running server refuses it once it re-reads the keys file.\n"
      "Revoking a revoked key is not an error.");
  revoke->add_option("id", kf->key_id, "Key id (the 12 hex chars after 'lbk_')")->required();
  revoke->callback([&g, run, kf] {
    *run = [&g, kf] {
      const std::string path = KeysPath(g, *kf);
      Result<std::unique_ptr<api::KeyStore>> store = LoadExisting(path);
      if (!store.ok()) return Fail(store.status());
      if (Status s = (*store)->Revoke(kf->key_id); !s.ok()) return Fail(s);
      std::printf("revoked key %s in %s\n", kf->key_id.c_str(), path.c_str());
      return kExitOk;
    };
  });

  // ---- keys rotate (encryption master key)
  auto* rotate = keys->add_subcommand(
      "rotate",
      "Rotate the encryption master key: every tenant data key is re-wrapped under a new\n"
      "master key in the key directory (--key-dir); the log is not rewritten. The previous\n"
      "generation stays as master.key.<id> and tenant-keys.json.<id> for old backups.\n"
      "Needs the data directory to itself (stop the server first).");
  rotate->callback([&g, run] {
    *run = [&g] {
      OpenFlags f;
      f.catch_up_views = false;
      f.run_projector = false;
      Result<std::unique_ptr<Engine>> e = OpenEngine(g, f);
      if (!e.ok()) return Fail(e.status());
      KeyRing* ring = (*e)->keyring();
      if (ring == nullptr) {
        return Fail(Status::NotFound("data directory '" + g.data_dir +
                                     "' is not encrypted (no key directory at '" + KeyDir(g) +
                                     "')"));
      }
      const uint32_t old_id = ring->master_key_id();
      Result<uint32_t> id = ring->RotateMaster();
      if (!id.ok()) return Fail(id.status());
      size_t live = 0;
      for (const TenantKeyInfo& k : ring->List()) live += k.destroyed ? 0 : 1;
      std::printf("rotated master key %u -> %u in %s: %zu data key(s) re-wrapped; "
                  "generation %u kept as master.key.%u\n",
                  old_id, *id, ring->dir().c_str(), live, old_id, old_id);
      return kExitOk;
    };
  });
}

}  // namespace logbook::cli
