// A self-signed certificate and key for nexusd's TLS listener.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"

namespace nexus {

struct GeneratedTls {
  std::string cert_pem;
  std::string key_pem;
};

// An ECDSA P-256 key and a self-signed certificate valid for `days`, whose
// subject alternative names are `hosts` (IP addresses or DNS names). Clients
// trust it by passing the certificate as their CA (--tls-ca).
Result<GeneratedTls> GenerateSelfSignedTls(const std::vector<std::string>& hosts, int days);

}  // namespace nexus
