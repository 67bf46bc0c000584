// The RPC metric names come from the schema: every method of every
// interface the daemon serves has one, and no interface of nexus.capnp is
// left out without a reason.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "rpc/server/service.h"
#include "rpc/server/service_internal.h"

namespace nexus {
namespace {

// Interfaces the client serves (callbacks passed as parameters), so the
// daemon has no metric for them.
const std::set<std::string> kClientSide = {"Progress", "FileWatcher", "OpSink", "SandboxOutput"};

// Every interface nexus.capnp declares, by name, read from its text.
std::set<std::string> DeclaredInterfaces() {
  std::ifstream in(NEXUS_SCHEMA_FILE);
  std::stringstream text;
  text << in.rdbuf();
  std::set<std::string> out;
  const std::string s = text.str();
  std::regex decl(R"((?:^|\n)\s*interface\s+(\w+))");
  for (auto it = std::sregex_iterator(s.begin(), s.end(), decl); it != std::sregex_iterator(); ++it)
    out.insert((*it)[1].str());
  return out;
}

// The interfaces reachable from the bootstrap through methods' results and
// parameters, by name.
void Reach(capnp::InterfaceSchema iface, std::map<std::string, capnp::InterfaceSchema>* seen) {
  std::string name = iface.getShortDisplayName().cStr();
  if (!seen->emplace(name, iface).second) return;
  for (auto m : iface.getMethods())
    for (auto type : {m.getParamType(), m.getResultType()})
      for (auto f : type.getFields())
        if (f.getType().isInterface()) Reach(f.getType().asInterface(), seen);
}

TEST(MethodNamesTest, EveryMethodOfEveryServedInterfaceHasAName) {
  std::map<std::string, capnp::InterfaceSchema> reachable;
  Reach(capnp::Schema::from<rpc::Nexus>(), &reachable);
  const std::set<std::string> declared = DeclaredInterfaces();
  ASSERT_GE(declared.size(), 10u) << "could not read " << NEXUS_SCHEMA_FILE;
  for (const std::string& name : declared)
    EXPECT_TRUE(reachable.count(name)) << "interface " << name << " is not reachable from Nexus";

  const auto names = RpcMethodNames();
  const std::set<std::string> named(names.begin(), names.end());
  EXPECT_EQ(named.size(), names.size()) << "a metric name appears twice";
  size_t methods = 0;
  for (const auto& [name, iface] : reachable) {
    if (kClientSide.count(name)) continue;
    std::string prefix = name;
    for (char& c : prefix) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const uint64_t id = iface.getProto().getId();
    auto list = iface.getMethods();
    for (uint16_t i = 0; i < list.size(); ++i) {
      const std::string want = prefix + "." + list[i].getProto().getName().cStr();
      EXPECT_EQ(MethodName(id, i), want);
      EXPECT_TRUE(named.count(want)) << want << " has no metric";
      ++methods;
    }
  }
  EXPECT_EQ(methods, names.size());
  // Some that docs and dashboards name.
  for (const char* m : {"files.write", "bytesink.done", "meshnode.claim", "nexus.authenticate", "mounts.add",
                        "permissions.write", "versions.history", "search.glob"})
    EXPECT_TRUE(named.count(m)) << m;
  EXPECT_EQ(MethodName(capnp::typeId<rpc::Progress>(), 0), "");
}

}  // namespace
}  // namespace nexus
