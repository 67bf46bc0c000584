#include "daemon/readiness_file.h"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/file_util.h"
#include "base/format.h"

namespace nexus {

std::string ReadinessFilePath(const std::string& data_dir) { return data_dir + "/nexusd.ready"; }

Status WriteReadinessFile(const DaemonInfo& info) {
  nlohmann::json j = {{"ready", true},
                      {"pid", info.pid},
                      {"version", info.version},
                      {"profile", info.profile},
                      {"data_dir", info.data_dir},
                      {"mount", info.mountpoint},
                      {"socket", info.socket_path},
                      {"listen", info.listen},
                      {"http", info.http},
                      {"since", FormatRfc3339(DefaultClock().Now(), 3)}};
  return WriteFileAtomic(ReadinessFilePath(info.data_dir), j.dump(2) + "\n", 0644);
}

void RemoveReadinessFile(const std::string& data_dir) { ::unlink(ReadinessFilePath(data_dir).c_str()); }

}  // namespace nexus
