// The module's side of libtwostep-push: loads the library (dlopen, from the
// module's own directory) only when a push is sent, and wraps its C
// interface. Nothing C++ crosses into the library.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "twostep/push_login.hpp"
#include "twostep/result.hpp"
#include "twostep/secret.hpp"

namespace twostep::pam {

struct HttpAnswer {
  bool answered = false;  // false: no usable answer (network, TLS, timeout, size, redirect)
  // With answered false: 0 when nothing came back (an outage, perhaps), else
  // the status of an answer the relay sent but that cannot be used.
  long status = 0;
  std::string body;
  std::string message;    // why, when not answered
};

class PushTransport {
 public:
  virtual ~PushTransport() = default;
  virtual HttpAnswer request(std::string_view method, std::string_view path,
                             std::string_view query, std::string_view body,
                             long total_timeout_ms) = 0;
  // Where a client address is, as the phone shows it ("city, country",
  // "this network", "this computer"), or "" when nothing is known. The
  // push client library looks it up (libmaxminddb, push.conf's
  // location_database), so a login by code never maps the database's
  // reader. Scripted relays in tests know no locations.
  virtual std::string locate(const std::string& address) {
    (void)address;
    return {};
  }
};

// Response bodies over this are an outage (the relay's own answers are small).
inline constexpr std::size_t kMaxRelayResponse = 64 * 1024;

// What a push needs from the host: push.conf, and a transport signed with the
// host secret. The module's one implementation reads the files and loads
// libtwostep-push (system_push_connector); tests script a relay instead.
struct PushConnection {
  push::HostSettings settings;
  std::unique_ptr<PushTransport> transport;
};
class PushConnector {
 public:
  virtual ~PushConnector() = default;
  // Errors are a broken installation (unreadable push.conf or host secret,
  // no push client): never an outage, so failmode=safe never applies.
  virtual Result<PushConnection> connect(const std::string& push_config_path) = 0;
};
// The real one: read_push_config, read_host_secret, open_push_transport.
class SystemPushConnector final : public PushConnector {
 public:
  Result<PushConnection> connect(const std::string& push_config_path) override;
};

// Opens libtwostep-push.so next to the module. Errors name the path and dlerror().
Result<std::unique_ptr<PushTransport>> open_push_transport(push::HostSettings settings,
                                                           SecretBytes host_secret);
// Opens DIRECTORY/libtwostep-push.so: twostep-check loads the file the module
// would, from the directory libpam loads pam_twostep.so from.
Result<std::unique_ptr<PushTransport>> open_push_transport_in(std::string directory,
                                                              push::HostSettings settings,
                                                              SecretBytes host_secret);

}  // namespace twostep::pam
