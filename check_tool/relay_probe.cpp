#include "relay_probe.hpp"

#include <dlfcn.h>

#include <cstring>

namespace twostep::check {

Result<PushLibrary> load_push_library(const std::string& directory) {
  const std::string path = directory + "/" + TWOSTEP_PUSH_LIBRARY_NAME;
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    return make_error(ErrorCode::io, "cannot load " + path + ": " + (why ? why : "?"));
  }
  auto version = reinterpret_cast<twostep_push_abi_version_fn>(dlsym(handle, "twostep_push_abi_version"));
  PushLibrary library;
  library.perform = reinterpret_cast<twostep_push_perform_fn>(dlsym(handle, "twostep_push_perform"));
  library.release =
      reinterpret_cast<twostep_push_response_free_fn>(dlsym(handle, "twostep_push_response_free"));
  if (version == nullptr || library.perform == nullptr || library.release == nullptr ||
      version() != TWOSTEP_PUSH_ABI_VERSION) {
    return make_error(ErrorCode::io, path + ": not a libtwostep-push of ABI version " +
                                         std::to_string(TWOSTEP_PUSH_ABI_VERSION));
  }
  return library;
}

pam::HttpAnswer send_host_request(const PushLibrary& library, const push::HostSettings& settings,
                                  const SecretBytes& host_secret, const RelayRequest& request) {
  const auto optional = [](const std::optional<std::string>& s) { return s ? s->c_str() : nullptr; };
  twostep_push_settings c_settings{};
  c_settings.abi_version = TWOSTEP_PUSH_ABI_VERSION;
  c_settings.relay_url = settings.relay_url.c_str();
  c_settings.ca_file = optional(settings.ca_file);
  c_settings.pinned_key = optional(settings.pinned_key);
  c_settings.proxy = optional(settings.proxy);
  c_settings.host_id = settings.host_id.c_str();
  c_settings.host_secret = host_secret.data();
  c_settings.host_secret_len = host_secret.size();
  c_settings.connect_timeout_ms = request.connect_timeout_ms;
  c_settings.max_response_bytes = pam::kMaxRelayResponse;
  twostep_push_request c_request{};
  c_request.abi_version = TWOSTEP_PUSH_ABI_VERSION;
  c_request.method = request.method.c_str();
  c_request.path = request.path.c_str();
  c_request.total_timeout_ms = request.total_timeout_ms;
  twostep_push_response response{};
  response.abi_version = TWOSTEP_PUSH_ABI_VERSION;
  pam::HttpAnswer answer;
  answer.answered = library.perform(&c_settings, &c_request, &response) == TWOSTEP_PUSH_OK;
  answer.status = response.http_status;
  if (response.body != nullptr) answer.body.assign(response.body, response.body_len);
  answer.message.assign(response.message, strnlen(response.message, sizeof(response.message)));
  library.release(&response);
  return answer;
}

}  // namespace twostep::check
