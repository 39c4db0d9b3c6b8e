#include "push_transport.hpp"

#include <dlfcn.h>

#include <array>
#include <cstring>
#include <map>
#include <mutex>

#include "twostep_push.h"

namespace twostep::pam {
namespace {

struct Library {
  twostep_push_perform_fn perform = nullptr;
  twostep_push_response_free_fn release = nullptr;
  // ABI 1.1: one kept-alive connection per login (all three, or none).
  twostep_push_session_new_fn session_new = nullptr;
  twostep_push_session_perform_fn session_perform = nullptr;
  twostep_push_session_free_fn session_free = nullptr;
  // ABI 1.2: where a client address is; an older library knows no places.
  twostep_push_locate_fn locate = nullptr;
};

// The session functions of a 1.1 library; an older one keeps working
// with one connection per request.
void find_session_functions(void* handle, Library& library) {
  library.session_new =
      reinterpret_cast<twostep_push_session_new_fn>(dlsym(handle, "twostep_push_session_new"));
  library.session_perform = reinterpret_cast<twostep_push_session_perform_fn>(
      dlsym(handle, "twostep_push_session_perform"));
  library.session_free =
      reinterpret_cast<twostep_push_session_free_fn>(dlsym(handle, "twostep_push_session_free"));
  if (!library.session_new || !library.session_perform || !library.session_free) {
    library.session_new = nullptr;
    library.session_perform = nullptr;
    library.session_free = nullptr;
  }
}

// The directory this module was loaded from (dladdr on one of its own
// functions): the library is installed next to pam_twostep.so.
std::string own_directory() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<const void*>(&own_directory), &info) == 0 || info.dli_fname == nullptr) {
    return {};
  }
  std::string path(info.dli_fname);
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash + 1);
}

// Loaded once per process (per path) and never unloaded (libcurl and OpenSSL
// keep process-wide state; the module itself is nodelete). `directory` ends
// with '/'.
Result<Library> load_library(const std::string& directory) {
  static std::mutex mutex;
  static std::map<std::string, Library>* loaded = new std::map<std::string, Library>;  // never freed
  std::lock_guard lock(mutex);
  const std::string path = directory + TWOSTEP_PUSH_LIBRARY_NAME;
  if (auto it = loaded->find(path); it != loaded->end()) return it->second;
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    return make_error(ErrorCode::io, "cannot load " + path + ": " + (why ? why : "?"));
  }
  auto version = reinterpret_cast<twostep_push_abi_version_fn>(dlsym(handle, "twostep_push_abi_version"));
  Library library;
  library.perform = reinterpret_cast<twostep_push_perform_fn>(dlsym(handle, "twostep_push_perform"));
  library.release =
      reinterpret_cast<twostep_push_response_free_fn>(dlsym(handle, "twostep_push_response_free"));
  if (version == nullptr || library.perform == nullptr || library.release == nullptr ||
      version() != TWOSTEP_PUSH_ABI_VERSION) {
    return make_error(ErrorCode::io, path + ": not a libtwostep-push of ABI version " +
                                         std::to_string(TWOSTEP_PUSH_ABI_VERSION));
  }
  find_session_functions(handle, library);
  library.locate = reinterpret_cast<twostep_push_locate_fn>(dlsym(handle, "twostep_push_locate"));
  loaded->emplace(path, library);
  return library;
}

class LibraryTransport final : public PushTransport {
 public:
  LibraryTransport(Library library, push::HostSettings settings, SecretBytes secret)
      : library_(library), settings_(std::move(settings)), secret_(std::move(secret)),
        session_(library.session_new ? library.session_new() : nullptr) {}
  ~LibraryTransport() override {
    if (session_ != nullptr) library_.session_free(session_);
  }
  LibraryTransport(const LibraryTransport&) = delete;
  LibraryTransport& operator=(const LibraryTransport&) = delete;

  HttpAnswer request(std::string_view method, std::string_view path, std::string_view query,
                     std::string_view body, long total_timeout_ms) override {
    const auto c_str = [](const std::optional<std::string>& s) {
      return s ? s->c_str() : nullptr;
    };
    twostep_push_settings settings{};
    settings.abi_version = TWOSTEP_PUSH_ABI_VERSION;
    settings.relay_url = settings_.relay_url.c_str();
    settings.ca_file = c_str(settings_.ca_file);
    settings.pinned_key = c_str(settings_.pinned_key);
    settings.proxy = c_str(settings_.proxy);
    settings.host_id = settings_.host_id.c_str();
    settings.host_secret = secret_.data();
    settings.host_secret_len = secret_.size();
    settings.connect_timeout_ms = static_cast<long>(settings_.connect_timeout_s) * 1000;
    settings.max_response_bytes = kMaxRelayResponse;
    const std::string m(method), p(path), q(query);
    twostep_push_request request{};
    request.abi_version = TWOSTEP_PUSH_ABI_VERSION;
    request.method = m.c_str();
    request.path = p.c_str();
    request.query = q.empty() ? nullptr : q.c_str();
    request.body = body.empty() ? nullptr : body.data();
    request.body_len = body.size();
    request.total_timeout_ms = total_timeout_ms;
    twostep_push_response response{};
    response.abi_version = TWOSTEP_PUSH_ABI_VERSION;
    // The create, the waits and a cancel of one login share the session's
    // connection (the login uses one transport, from one thread).
    const int rc = session_ != nullptr
                       ? library_.session_perform(session_, &settings, &request, &response)
                       : library_.perform(&settings, &request, &response);
    HttpAnswer answer;
    answer.answered = rc == TWOSTEP_PUSH_OK;
    answer.status = response.http_status;
    if (response.body != nullptr) answer.body.assign(response.body, response.body_len);
    answer.message.assign(response.message, strnlen(response.message, sizeof(response.message)));
    library_.release(&response);
    return answer;
  }

  std::string locate(const std::string& address) override {
    if (library_.locate == nullptr) return {};
    std::array<char, 256> place{};
    const char* database = settings_.location_database ? settings_.location_database->c_str()
                                                       : nullptr;
    if (library_.locate(database, address.c_str(), place.data(), place.size()) != TWOSTEP_PUSH_OK) {
      return {};  // an unreadable database: no place rather than no push
    }
    return std::string(place.data(), strnlen(place.data(), place.size()));
  }

 private:
  Library library_;
  push::HostSettings settings_;
  SecretBytes secret_;
  twostep_push_session* session_;
};

}  // namespace

Result<std::unique_ptr<PushTransport>> open_push_transport_in(std::string directory,
                                                              push::HostSettings settings,
                                                              SecretBytes host_secret) {
  if (directory.empty()) return make_error(ErrorCode::io, "no directory for the push client");
  if (directory.back() != '/') directory += '/';
  auto library = load_library(directory);
  if (!library) return library.error();
  return std::unique_ptr<PushTransport>(
      new LibraryTransport(*library, std::move(settings), std::move(host_secret)));
}

Result<std::unique_ptr<PushTransport>> open_push_transport(push::HostSettings settings,
                                                           SecretBytes host_secret) {
  const std::string directory = own_directory();
  if (directory.empty()) {
    return make_error(ErrorCode::io, "cannot find the module's own directory");
  }
  return open_push_transport_in(directory, std::move(settings), std::move(host_secret));
}

}  // namespace twostep::pam

namespace twostep::pam {

Result<PushConnection> SystemPushConnector::connect(const std::string& push_config_path) {
  auto settings = push::read_push_config(push_config_path);
  if (!settings) return settings.error();
  auto secret = push::read_host_secret(settings->host_secret_file);
  if (!secret) return secret.error();
  auto transport = open_push_transport(*settings, std::move(*secret));
  if (!transport) return transport.error();
  return PushConnection{std::move(*settings), std::move(*transport)};
}

}  // namespace twostep::pam
