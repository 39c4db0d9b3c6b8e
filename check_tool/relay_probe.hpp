// The push part's one network request: loads libtwostep-push.so from the
// directory libpam loads pam_twostep.so from (the file the module would
// dlopen, ABI version checked the same way) and sends one signed GET.
//
// Why not pam_module/push_transport.cpp: its loader finds the library next
// to the calling binary (dladdr on itself), which for twostep-check is
// /usr/bin, not the PAM module directory; it takes no directory argument.
#pragma once

#include <string>

#include "push_transport.hpp"  // HttpAnswer, kMaxRelayResponse (header only)
#include "twostep/push_login.hpp"
#include "twostep/result.hpp"
#include "twostep/secret.hpp"
#include "twostep_push.h"

namespace twostep::check {

struct PushLibrary {
  twostep_push_perform_fn perform = nullptr;
  twostep_push_response_free_fn release = nullptr;
};

struct RelayRequest {
  std::string method;
  std::string path;
  long connect_timeout_ms = 0;
  long total_timeout_ms = 0;
};

// DIR/libtwostep-push.so. Errors: missing, not loadable, or another ABI
// (messages as the module logs them: path and dlerror()). Never unloaded:
// libcurl and OpenSSL keep process-wide state (the module keeps it too).
Result<PushLibrary> load_push_library(const std::string& directory);

// One request signed with the host's credentials (protocol section 3).
pam::HttpAnswer send_host_request(const PushLibrary& library, const push::HostSettings& settings,
                                  const SecretBytes& host_secret, const RelayRequest& request);

}  // namespace twostep::check
