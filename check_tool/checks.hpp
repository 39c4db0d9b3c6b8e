// The five parts of twostep-check. Each adds findings to the report.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "module_config.hpp"
#include "pam_stack.hpp"
#include "report.hpp"

namespace twostep::check {

struct CheckOptions {
  std::string service = "sshd";
  std::string pam_dir = "/etc/pam.d";
  std::string module_dir;                  // where a bare pam_twostep.so is loaded from
  std::optional<std::string> user;
  bool check_sshd = true;                  // default: when the service is sshd
  std::string sshd = "/usr/sbin/sshd";
  std::optional<std::string> sshd_config;  // sshd -T -f FILE
  bool check_clock = true;
  bool contact_relay = true;               // push: one signed request (--offline: none)
  std::string module_key;                  // the module's key file (tests point elsewhere)
};

// What the PAM part learned, for the sshd and user parts.
struct StackFacts {
  bool readable = false;
  std::vector<PamLine> twostep_lines;
  std::optional<twostep::pam::Config> config;  // of the first valid pam_twostep line
  std::string module_path;                     // that line's module file, as libpam finds it
  bool has_first_factor = false;               // a password (or similar) module runs too
};

StackFacts check_pam_stack(const CheckOptions& options, Report& report);
void check_sshd(const CheckOptions& options, const StackFacts& facts, Report& report);
void check_user(const CheckOptions& options, const StackFacts& facts, Report& report);
void check_clock(Report& report);
// The module key (pam_twostep(8), FILES): present, root's, 0600, well formed.
void check_module_key(const CheckOptions& options, Report& report);
// Only when the service's pam_twostep line has `push`: push.conf, the host
// secret file, the push client library and (unless --offline) the relay.
void check_push(const CheckOptions& options, const StackFacts& facts, Report& report);

// sshd -T output ("key value" lines, lower-case keys) to a map; repeated
// keys (authenticationmethods appears once) keep the first value.
std::vector<std::pair<std::string, std::string>> parse_sshd_settings(const std::string& text);

}  // namespace twostep::check
