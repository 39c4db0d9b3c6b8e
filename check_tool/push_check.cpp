// The push part: what pam_twostep reads and does when a user presses Enter
// for a push (authenticate.cpp run_push): push.conf and the host secret,
// read with the module's own functions (core's push_login), the push client
// library it dlopens, and one signed request to the relay. Never prints the
// host secret.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "checks.hpp"
#include "push_transport.hpp"
#include "twostep_push.h"
#include "twostep/push_login.hpp"

namespace twostep::check {
namespace {

using pam::PushFailmode;

// The relay's name for this host (protocol 4.5): one signed request that
// runs the relay's whole host authentication (protocol 3), changes nothing,
// and returns the name the phone shows and signs, which must be host_name.
constexpr const char* kHostPath = "/v1/host";
// For a relay older than GET /v1/host (404 before authentication): a
// challenge id no relay hands out (16 zero bytes); 404 not_found there means
// "authenticated, no such challenge".
constexpr const char* kProbePath = "/v1/challenges/AAAAAAAAAAAAAAAAAAAAAA";
constexpr long kMaxProbeConnectMs = 5000;
constexpr long kProbeAnswerMs = 3000;  // on top of the connect timeout

// authenticate.cpp run_push: a broken installation is no outage.
std::string on_setup_error(PushFailmode failmode) {
  if (failmode == PushFailmode::totp) {
    return "with failmode=totp the module says \"Push is not available on this host.\" and "
           "asks for a code";
  }
  return "a push ends in PAM_SERVICE_ERR (\"Push is not available on this host; log in with a "
         "code.\"), whatever failmode= says; a typed code still works";
}

// authenticate.cpp push_unavailable.
std::string on_outage(PushFailmode failmode) {
  switch (failmode) {
    case PushFailmode::safe:
      return "the module LETS A PUSH LOGIN IN WITHOUT A SECOND FACTOR";
    case PushFailmode::totp:
      return "the module falls back to asking for a code";
    case PushFailmode::secure:
      break;
  }
  return "a push is refused (\"log in with a code\"); a typed code still works";
}

std::string config_fix(const Error& error, const std::string& path) {
  switch (error.code) {
    case ErrorCode::not_found:
      return "create " + path + " (twostep-push.conf(5); `twostepd host add NAME` on the relay "
             "prints its lines), or correct push_config=";
    case ErrorCode::unsafe_file:
      return "chown root:root " + path + " && chmod 0644 " + path;
    case ErrorCode::io:
      return "run twostep-check as root; " + path + " must be a regular file, not a symlink";
    default:
      return "correct " + path + " (twostep-push.conf(5) lists the keys)";
  }
}

// The module's verdict comes from read_host_secret; lstat only picks the fix.
std::string host_secret_fix(const Error& error, const std::string& path) {
  const std::string write_it = "write the host_secret line `twostepd host add` printed for this "
                               "host into " + path + " (one line), then chown root:root " + path +
                               " && chmod 0600 " + path;
  struct stat info {};
  if (error.code == ErrorCode::not_found || ::lstat(path.c_str(), &info) != 0) return write_it;
  if (S_ISLNK(info.st_mode)) {
    return "replace the symlink by the file itself: cp --remove-destination \"$(readlink -f " +
           path + ")\" " + path + " && chmod 0600 " + path;
  }
  if (!S_ISREG(info.st_mode)) return "remove " + path + ", then " + write_it;
  if (error.code == ErrorCode::malformed) return write_it;
  std::string fix;
  if (info.st_uid != 0) fix = "chown root:root " + path;
  if ((info.st_mode & 077) != 0) fix += (fix.empty() ? "" : " && ") + std::string("chmod 0600 ") + path;
  if (fix.empty() && ::geteuid() != 0) return "run twostep-check as root";
  return fix.empty() ? write_it : fix;
}

std::optional<push::HostSettings> check_config(const pam::Config& config, Report& report) {
  auto settings = push::read_push_config(config.push_config);
  if (!settings) {
    report.problem("the module refuses push: " + settings.error().message + ": " +
                       on_setup_error(config.failmode),
                   config_fix(settings.error(), config.push_config));
    return std::nullopt;
  }
  report.ok(config.push_config + ": relay " + settings->relay_url + ", host_id " +
            settings->host_id + ", host_name " + settings->host_name + ", approver_origin " +
            settings->approver_origin + ", connect_timeout " +
            std::to_string(settings->connect_timeout_s) + " s");
  return std::move(*settings);
}

std::optional<SecretBytes> check_host_secret(const pam::Config& config,
                                             const push::HostSettings& settings, Report& report) {
  const std::string& path = settings.host_secret_file;
  auto secret = push::read_host_secret(path);
  if (!secret) {
    report.problem("the module refuses push: " + secret.error().message + ": " +
                       on_setup_error(config.failmode),
                   host_secret_fix(secret.error(), path));
    return std::nullopt;
  }
  report.ok("host secret file " + path + ": regular file, owner root, no group/other access, "
            "32 bytes (not shown)");
  return std::move(*secret);
}

void report_answer(const pam::Config& config, const push::HostSettings& settings,
                   const pam::HttpAnswer& answer, Report& report) {
  const std::string relay = "relay " + settings.relay_url;
  if (!answer.answered) {
    // libcurl's text for a refused or unroutable connection.
    const bool no_connection = answer.message.find("Couldn't connect") != std::string::npos;
    report.problem(relay + " unreachable (" + answer.message +
                       (no_connection ? ": nothing accepts connections there" : "") +
                       "): with failmode=" + pam::to_string(config.failmode) + ", " +
                       on_outage(config.failmode),
                   no_connection
                       ? "start twostepd (systemctl start twostepd) or correct relay in " +
                             config.push_config + "; check the firewall"
                       : "check that relay in " + config.push_config + " is the twostepd relay "
                         "and read its log; with TLS, check ca_file and pin there");
    return;
  }
  const auto code = push::parse_error_code(answer.body);
  const std::string error = code ? *code : "";
  const std::string http = "HTTP " + std::to_string(answer.status) +
                           (error.empty() ? std::string() : " " + error);
  const std::string secret_file = settings.host_secret_file;
  if (answer.status == 404 && error == "not_found") {
    report.ok(relay + " answers; host_id and host secret accepted, clocks within 300 s (signed "
              "GET of a challenge that cannot exist: " + http + ")");
    report.warning(relay + " has no GET /v1/host (an older twostepd): host_name " +
                       settings.host_name + " cannot be compared with the relay's name for "
                       "this host; a mismatch fails every approval (reason=wrong_challenge)",
                   "upgrade twostepd, or compare host_name with `twostepd host list` there");
  } else if (error == "unknown_host") {
    report.problem(relay + " does not know host_id " + settings.host_id + " (" + http +
                       "): never added there, or removed",
                   "on the relay: twostepd host add " + settings.host_name + ", then put its "
                   "host_id into " + config.push_config + " and its host_secret into " +
                   secret_file);
  } else if (error == "bad_signature") {
    report.problem(relay + " refuses the host secret in " + secret_file + " (" + http +
                       "): it is not the one made with host_id " + settings.host_id,
                   "put the host_secret that `twostepd host add` printed with this host_id into " +
                       secret_file + " (or add the host again and update both files)");
  } else if (error == "clock_skew") {
    report.problem("this host's clock is more than 300 s away from the relay's (" + http +
                       "): the relay refuses every push request",
                   "synchronise both clocks: timedatectl set-ntp true (or chrony/ntpd) here and "
                   "on the relay");
  } else if (error == "rate_limited" || error == "shutting_down") {
    report.warning(relay + " answers but cannot serve now (" + http + ")",
                   "run twostep-check again in a minute");
  } else {
    report.problem(relay + " answers unexpectedly (" + http + "): is it a twostepd relay?",
                   "check relay in " + config.push_config + " and the relay's log");
  }
}

// The relay's name for this host against host_name: the phone shows and
// signs the relay's name, the module checks the digest with host_name.
void report_host_name(const pam::Config& config, const push::HostSettings& settings,
                      const pam::HttpAnswer& answer, Report& report) {
  const std::string relay = "relay " + settings.relay_url;
  auto name = push::parse_host_view(answer.body, settings.host_id);
  if (!name) {
    report.problem(relay + " answers GET " + kHostPath + " unexpectedly (" +
                       name.error().message + "): is it a twostepd relay?",
                   "check relay in " + config.push_config + " and the relay's log");
    return;
  }
  if (*name == settings.host_name) {
    report.ok(relay + " answers; host_id and host secret accepted, clocks within 300 s; it "
              "names this host " + settings.host_name + ", as host_name does");
    return;
  }
  report.problem(relay + " registered host_id " + settings.host_id + " as \"" +
                     push::relay_text(*name) + "\", but host_name in " + config.push_config +
                     " is \"" + settings.host_name + "\": every push approval is refused "
                     "(the phone shows \"Approved\", the log says reason=host_name_mismatch)",
                 "set `host_name " + push::relay_text(*name) + "` in " + config.push_config);
}

// The library first (no network): a missing one fails every push as surely
// as a stopped relay.
void check_relay(const CheckOptions& options, const StackFacts& facts,
                 const push::HostSettings& settings, const SecretBytes& secret, Report& report) {
  const pam::Config& config = *facts.config;
  const std::string directory = std::filesystem::path(facts.module_path).parent_path().string();
  // The module's own loader and transport, pointed at the module's directory.
  push::HostSettings probe = settings;
  probe.connect_timeout_s =
      std::min(static_cast<std::uint32_t>(kMaxProbeConnectMs / 1000), settings.connect_timeout_s);
  auto transport = pam::open_push_transport_in(directory, probe, secret.clone());
  if (!transport) {
    report.problem("the module cannot send a push: " + transport.error().message + ": " +
                       on_setup_error(config.failmode),
                   "install libtwostep-push.so next to pam_twostep.so (the package and "
                   "cmake --install put both there)");
    return;
  }
  report.ok("push client " + directory + "/" + TWOSTEP_PUSH_LIBRARY_NAME + " loads (ABI " +
            std::to_string(TWOSTEP_PUSH_ABI_VERSION) + ")");
  if (!options.contact_relay) {
    report.note("--offline: relay " + settings.relay_url + " not contacted");
    return;
  }
  const long total_ms = static_cast<long>(probe.connect_timeout_s) * 1000 + kProbeAnswerMs;
  const auto answer = (*transport)->request("GET", kHostPath, "", "", total_ms);
  if (answer.answered && answer.status == 200) {
    report_host_name(config, settings, answer, report);
  } else if (answer.answered && answer.status == 404 &&
             push::parse_error_code(answer.body).value_or("") == "not_found") {
    report_answer(config, settings, (*transport)->request("GET", kProbePath, "", "", total_ms),
                  report);
  } else {
    report_answer(config, settings, answer, report);
  }
}

}  // namespace

void check_push(const CheckOptions& options, const StackFacts& facts, Report& report) {
  if (!facts.config || !facts.config->push) return;
  const pam::Config& config = *facts.config;
  report.section("push (" + config.push_config + ")");
  if (config.failmode == PushFailmode::safe) {
    report.warning("failmode=safe: while the relay is unreachable, push logins are let in "
                   "WITHOUT a second factor (logged at error level)",
                   "failmode=secure (the default) or failmode=totp on the pam_twostep line");
  } else {
    report.ok(std::string("failmode=") + pam::to_string(config.failmode) +
              ": while the relay is unreachable, " + on_outage(config.failmode));
  }
  const auto settings = check_config(config, report);
  if (!settings) return;
  const auto secret = check_host_secret(config, *settings, report);
  if (!secret) return;
  check_relay(options, facts, *settings, *secret, report);
}

}  // namespace twostep::check
