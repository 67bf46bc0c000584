// Users and API keys: nexus admin ...
#include <cstdio>

#include "cli/cli.h"
#include "rpc/errors.h"

namespace nexus::cli {
namespace {

using nlohmann::json;

json UserJson(rpc::User::Reader u) {
  return {{"name", std::string(u.getName())},
          {"subject", std::string(u.getSubject())},
          {"subject_type", std::string(u.getSubjectType())},
          {"display_name", u.getDisplayName().size() ? json(std::string(u.getDisplayName())) : json(nullptr)},
          {"is_admin", u.getIsAdmin()},
          {"uid", u.getUid()},
          {"gid", u.getGid()},
          {"created_at", FormatTime(u.getCreatedAtNs())},
          {"expires_at", u.getExpiresAtNs() ? json(FormatTime(u.getExpiresAtNs())) : json(nullptr)}};
}

json KeyJson(rpc::ApiKey::Reader k) {
  json j = {{"id", std::string(k.getId())},
            {"user", std::string(k.getUser())},
            {"name", std::string(k.getName())},
            {"scope", ScopeName(k.getScope())},
            {"created_at", FormatTime(k.getCreatedAtNs())},
            {"expires_at", k.getExpiresAtNs() ? json(FormatTime(k.getExpiresAtNs())) : json(nullptr)},
            {"revoked", k.getRevoked()},
            {"can_submit_tasks", k.getCanSubmitTasks()},
            {"hourly_task_quota", k.getHourlyTaskQuota()}};
  if (k.getSecret().size()) j["api_key"] = std::string(k.getSecret());
  return j;
}

void PrintKey(rpc::ApiKey::Reader k) {
  std::printf("key %s (%s) of %s, scope %s, expires %s%s\n", k.getId().cStr(), k.getName().cStr(),
              k.getUser().cStr(), ScopeName(k.getScope()), FormatTime(k.getExpiresAtNs()).c_str(),
              k.getRevoked() ? ", REVOKED" : "");
  if (k.getSecret().size()) std::printf("API key (shown once, store it now):\n%s\n", k.getSecret().cStr());
}

rpc::Admin::Client AdminOf(NexusClient& c) { return c.session().adminRequest().send().getAdmin(); }

// Sends `req`, reports errors, then prints with `show`.
template <typename Request, typename Show>
int Call(Cli& cli, Request& req, Show show) {
  auto c = cli.Client();
  if (!c.ok()) return cli.Fail(c.status());
  auto r = (*c)->Wait(req.send());
  if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
  show(*r);
  return kExitOk;
}

template <typename Fn>
int WithAdmin(Cli& cli, Fn fn) {
  auto c = cli.Client();
  if (!c.ok()) return cli.Fail(c.status());
  auto admin = AdminOf(**c);
  return fn(admin);
}

int CreateUser(Cli& cli, const Args& a) {
  std::string type = a.Get("subject-type", "user");
  if (type != "user" && type != "agent") return cli.Usage("--subject-type must be user or agent");
  auto days = a.Number("expires-days", 0, 0, 36500);
  if (!days.ok()) return cli.Fail(days.status(), true);
  auto uid = a.Number("uid", 0, 0, 4294967294.0);
  if (!uid.ok()) return cli.Fail(uid.status(), true);
  auto gid = a.Number("gid", 0, 0, 4294967294.0);
  if (!gid.ok()) return cli.Fail(gid.status(), true);
  return WithAdmin(cli, [&](rpc::Admin::Client& admin) {
    auto req = admin.createUserRequest();
    req.setName(a.positional[0]);
    req.setSubjectType(type);
    req.setExpiresDays(static_cast<uint32_t>(*days));
    req.setIsAdmin(a.Has("admin"));
    req.setUid(static_cast<uint32_t>(*uid));
    req.setGid(static_cast<uint32_t>(*gid));
    req.setDisplayName(a.Get("name"));
    return Call(cli, req, [&](auto& r) {
      if (cli.json) {
        cli.PrintJson({{"user", UserJson(r.getUser())}, {"key", KeyJson(r.getKey())}});
        return;
      }
      auto u = r.getUser();
      std::printf("created %s%s%s%s%s\n", u.getSubject().cStr(), u.getDisplayName().size() ? " (" : "",
                  u.getDisplayName().cStr(), u.getDisplayName().size() ? ")" : "",
                  u.getIsAdmin() ? " (admin)" : "");
      PrintKey(r.getKey());
    });
  });
}

int CreateKey(Cli& cli, const Args& a) {
  auto days = a.Number("expires-days", 0, 0, 36500);
  if (!days.ok()) return cli.Fail(days.status(), true);
  return WithAdmin(cli, [&](rpc::Admin::Client& admin) {
    auto req = admin.createKeyRequest();
    req.setUser(a.positional[0]);
    req.setName(a.Get("name"));
    req.setExpiresDays(static_cast<uint32_t>(*days));
    return Call(cli, req, [&](auto& r) {
      if (cli.json) return cli.PrintJson(KeyJson(r.getKey()));
      PrintKey(r.getKey());
    });
  });
}

int ListUsers(Cli& cli, const Args& a) {
  const bool admins_only = a.Has("is-admin");
  return WithAdmin(cli, [&](rpc::Admin::Client& admin) {
    auto req = admin.listUsersRequest();
    return Call(cli, req, [&](auto& r) {
      json out = json::array();
      for (auto u : r.getUsers()) {
        if (admins_only && !u.getIsAdmin()) continue;
        if (cli.json) {
          out.push_back(UserJson(u));
          continue;
        }
        std::printf("%-24s %-6s uid %-6u %s%s\n", u.getSubject().cStr(), u.getIsAdmin() ? "admin" : "",
                    u.getUid(), "expires ", FormatTime(u.getExpiresAtNs()).c_str());
      }
      if (cli.json) cli.PrintJson(out);
    });
  });
}

int GetUser(Cli& cli, const Args& a) {
  if (a.positional.empty() == !a.Has("user-id"))
    return cli.Usage("give the user's NAME (or --user-id NAME), once");
  const std::string name = a.positional.empty() ? a.Get("user-id") : a.positional[0];
  return WithAdmin(cli, [&](rpc::Admin::Client& admin) {
    auto req = admin.getUserRequest();
    req.setName(name);
    return Call(cli, req, [&](auto& r) {
      if (cli.json) {
        json keys = json::array();
        for (auto k : r.getKeys()) keys.push_back(KeyJson(k));
        cli.PrintJson({{"user", UserJson(r.getUser())}, {"keys", keys}});
        return;
      }
      auto u = r.getUser();
      std::printf("%s%s%s%s%s uid %u gid %u, created %s, expires %s\n", u.getSubject().cStr(),
                  u.getDisplayName().size() ? " \"" : "", u.getDisplayName().cStr(),
                  u.getDisplayName().size() ? "\"" : "", u.getIsAdmin() ? " (admin)" : "", u.getUid(),
                  u.getGid(), FormatTime(u.getCreatedAtNs()).c_str(), FormatTime(u.getExpiresAtNs()).c_str());
      for (auto k : r.getKeys()) PrintKey(k);
    });
  });
}

int RevokeKey(Cli& cli, const Args& a) {
  return WithAdmin(cli, [&](rpc::Admin::Client& admin) {
    auto req = admin.revokeKeyRequest();
    req.setKeyId(a.positional[0]);
    return Call(cli, req, [&](auto&) {
      if (cli.json) return cli.PrintJson({{"id", a.positional[0]}, {"revoked", true}});
      std::printf("revoked key %s\n", a.positional[0].c_str());
    });
  });
}

int UpdateKey(Cli& cli, const Args& a) {
  auto days = a.Number("expires-days", 0, 0, 36500);
  if (!days.ok()) return cli.Fail(days.status(), true);
  if (!a.Has("name") && !a.Has("expires-days") && !a.Has("no-expiry"))
    return cli.Usage("nothing to update: give --name, --expires-days or --no-expiry");
  return WithAdmin(cli, [&](rpc::Admin::Client& admin) {
    auto req = admin.updateKeyRequest();
    req.setKeyId(a.positional[0]);
    req.setName(a.Get("name"));
    req.setExpiresDays(static_cast<uint32_t>(*days));
    req.setClearExpiry(a.Has("no-expiry"));
    return Call(cli, req, [&](auto& r) {
      if (cli.json) return cli.PrintJson(KeyJson(r.getKey()));
      PrintKey(r.getKey());
    });
  });
}

int KeyEntitlements(Cli& cli, const Args& a) {
  auto quota = a.Number("task-quota", 0, 0, 1000000);
  if (!quota.ok()) return cli.Fail(quota.status(), true);
  std::string tasks = a.Get("tasks", "allow");
  if (tasks != "allow" && tasks != "deny") return cli.Usage("--tasks is allow or deny, not '" + tasks + "'");
  if (!a.Has("tasks") && !a.Has("task-quota"))
    return cli.Usage("nothing to set: give --tasks allow|deny and/or --task-quota N");
  return WithAdmin(cli, [&](rpc::Admin::Client& admin) {
    auto req = admin.setKeyEntitlementsRequest();
    req.setKeyId(a.positional[0]);
    req.setCanSubmitTasks(tasks == "allow");
    req.setHourlyTaskQuota(static_cast<uint32_t>(*quota));
    return Call(cli, req, [&](auto& r) {
      if (cli.json) return cli.PrintJson(KeyJson(r.getKey()));
      std::printf("key %s: tasks %s, quota %s\n", r.getKey().getId().cStr(),
                  r.getKey().getCanSubmitTasks() ? "allowed" : "denied",
                  r.getKey().getHourlyTaskQuota()
                      ? (std::to_string(r.getKey().getHourlyTaskQuota()) + " per hour").c_str()
                      : "none");
    });
  });
}

}  // namespace

void AddAdminCommands(std::vector<Command>* t) {
  t->push_back({{"admin", "create-user"},
                {"--subject-type", "--expires-days", "--uid", "--gid", "--name"},
                {"--admin"},
                "admin create-user NAME [--name DISPLAY_NAME] [--subject-type user|agent] [--expires-days N] "
                "[--admin]",
                "Provision a user or agent and print its first API key (shown once).\n"
                "  --name TEXT       display name for people (\"Alice Smith\"; at most 256 bytes)\n"
                "  --uid N, --gid N  POSIX identity its file calls run as (default 65534,\n"
                "                    or 0 for admins)\n"
                "Admins only.",
                1,
                1,
                CreateUser});
  t->push_back({{"admin", "create-key"},
                {"--name", "--expires-days"},
                {},
                "admin create-key USER [--name N] [--expires-days N]",
                "Create another API key for USER (shown once). Admins only.",
                1,
                1,
                CreateKey});
  t->push_back({{"admin", "list-users"},
                {},
                {"--is-admin"},
                "admin list-users [--is-admin]",
                "List users and agents (--is-admin: only admins). Admins only.",
                0,
                0,
                ListUsers});
  t->push_back({{"admin", "get-user"},
                {"--user-id"},
                {},
                "admin get-user NAME | --user-id NAME",
                "Show a user and its keys (never the secrets). Admins only.",
                0,
                1,
                GetUser});
  t->push_back({{"admin", "revoke-key"},
                {},
                {},
                "admin revoke-key KEY_ID",
                "Revoke a key: it is refused from the next call on. Admins only.",
                1,
                1,
                RevokeKey});
  t->push_back({{"admin", "update-key"},
                {"--name", "--expires-days"},
                {"--no-expiry"},
                "admin update-key KEY_ID [--name N] [--expires-days N|--no-expiry]",
                "Rename a key or change its expiry (N days from now). Admins only.",
                1,
                1,
                UpdateKey});
  t->push_back({{"admin", "key-entitlements"},
                {"--tasks", "--task-quota"},
                {},
                "admin key-entitlements KEY_ID [--tasks allow|deny] [--task-quota N]",
                "Set what a key may do in the mesh: submit tasks or not (denied: permission\n"
                "denied), and at most N submissions in any sliding hour (0: no limit; past\n"
                "it: resource exhausted). Unset: tasks allowed, no quota. Admins only.",
                1,
                1,
                KeyEntitlements});
}

}  // namespace nexus::cli
