#include "module_config.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <string>
#include <tuple>

#include "audit.hpp"
#include "twostep/enrollment.hpp"
#include "twostep/secret_path.hpp"

namespace twostep::pam {

std::string_view Config::prompt_text() const noexcept {
  if (prompt) {
    return *prompt;
  }
  return code_source == CodeSource::forward_pass ? kForwardPassPrompt : kDefaultPrompt;
}

std::string_view Config::clock_hint_text() const noexcept {
  if (!clock_hint) {
    return kDefaultClockHint;
  }
  return *clock_hint == "off" ? std::string_view{} : std::string_view{*clock_hint};
}

const char* to_string(PushFailmode mode) noexcept {
  switch (mode) {
    case PushFailmode::secure: return "secure";
    case PushFailmode::safe: return "safe";
    case PushFailmode::totp: return "totp";
  }
  return "secure";
}

namespace {

Error config_error(std::string message) {
  return make_error(ErrorCode::invalid_argument, std::move(message));
}

// Which arguments have been seen, so a repeated one is reported instead of
// silently letting the last one win.
enum class Key : std::size_t {
  secret, user, nullok, window, prompt, code_source, echo, debug,
  no_strict_modes, nodelay, clock_hint, log_copy, fail_time, groups, skip_groups,
  audit_json, count
};

enum class GaArgument : std::size_t;  // pam_google_authenticator's own arguments, below

class ArgumentParser {
 public:
  Status parse(std::string_view arg);
  Result<Config> finish();

 private:
  Status mark_seen(Key key, std::string_view name);
  Status parse_secret(std::string_view value);
  Status parse_user(std::string_view value);
  Status parse_window(std::string_view value);
  Status parse_prompt(std::string_view value);
  Status parse_clock_hint(std::string_view value);
  Status parse_log_copy(std::string_view value);
  Status parse_group_list(Key key, std::string_view name, std::string_view value,
                          std::vector<std::string>& into);
  Status parse_fail_time(std::string_view value);
  Status set_code_source(CodeSource source, std::string_view name);
  Status parse_flag(std::string_view arg);
  // pam_google_authenticator's arguments that twostep's own set lacks;
  // nullopt: not one of them.
  std::optional<Status> parse_google_authenticator_argument(std::string_view arg);
  std::optional<Status> apply_google_authenticator_argument(GaArgument argument,
                                                            std::string_view value);
  Status parse_grace_period(std::string_view value);
  Status parse_allowed_perm(std::string_view value);
  // push, push_config=, push_timeout=, failmode=; nullopt: not one of them.
  std::optional<Status> parse_push_argument(std::string_view arg);
  std::array<bool, 4> push_seen_{};

  Config config_;
  std::array<bool, 8> ga_seen_{};  // by GaArgument (module_config.cpp's GA block)
  std::array<bool, static_cast<std::size_t>(Key::count)> seen_{};
};

Status ArgumentParser::mark_seen(Key key, std::string_view name) {
  auto& seen = seen_[static_cast<std::size_t>(key)];
  if (seen) {
    return config_error("argument given twice: " + std::string(name));
  }
  seen = true;
  return {};
}

Status ArgumentParser::parse_secret(std::string_view value) {
  if (auto status = mark_seen(Key::secret, "secret"); !status) {
    return status;
  }
  if (auto status = validate_secret_path_template(value); !status) {
    return config_error("secret=: " + status.error().message);
  }
  config_.secret_path = std::string(value);
  config_.secret_path_is_default = false;
  return {};
}

bool is_valid_user_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxUserNameLength || name.front() == '-') {
    return false;
  }
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-' || c == '$';
    if (!ok) {
      return false;
    }
  }
  return name != "." && name != "..";
}

// groups=/skip_groups=: comma-separated group names, each valid as an
// account name, none repeated, at most kMaxScopeGroups.
Status ArgumentParser::parse_group_list(Key key, std::string_view name, std::string_view value,
                                        std::vector<std::string>& into) {
  if (auto status = mark_seen(key, name); !status) return status;
  std::size_t start = 0;
  while (start <= value.size()) {
    const std::size_t comma = std::min(value.find(',', start), value.size());
    const std::string_view group = value.substr(start, comma - start);
    if (!is_valid_user_name(group)) {
      return config_error(std::string(name) + "=: not a group name: " +
                          sanitize_log_field(group.substr(0, 32)));
    }
    if (std::find(into.begin(), into.end(), group) != into.end()) {
      return config_error(std::string(name) + "=: " + std::string(group) + " given twice");
    }
    if (into.size() == kMaxScopeGroups) {
      return config_error(std::string(name) + "=: more than " +
                          std::to_string(kMaxScopeGroups) + " groups");
    }
    into.emplace_back(group);
    start = comma + 1;
  }
  return {};
}

Status ArgumentParser::parse_user(std::string_view value) {
  if (auto status = mark_seen(Key::user, "user"); !status) {
    return status;
  }
  if (!is_valid_user_name(value)) {
    return config_error("user=: not a valid account name");
  }
  config_.file_user = std::string(value);
  return {};
}

Status ArgumentParser::parse_window(std::string_view value) {
  if (auto status = mark_seen(Key::window, "window"); !status) {
    return status;
  }
  std::uint32_t window = 0;
  const auto* end = value.data() + value.size();
  const auto [ptr, ec] = std::from_chars(value.data(), end, window);
  if (value.empty() || ec != std::errc{} || ptr != end || window > kMaxWindow) {
    return config_error("window=: expected a number from 0 to " + std::to_string(kMaxWindow));
  }
  config_.window = window;
  return {};
}

Status ArgumentParser::parse_prompt(std::string_view value) {
  if (auto status = mark_seen(Key::prompt, "prompt"); !status) {
    return status;
  }
  if (value.empty() || value.size() > kMaxPromptLength) {
    return config_error("prompt=: must be 1 to " + std::to_string(kMaxPromptLength) +
                        " characters");
  }
  for (const char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      return config_error("prompt=: control characters are not allowed");
    }
  }
  config_.prompt = std::string(value);
  return {};
}

Status ArgumentParser::parse_clock_hint(std::string_view value) {
  if (auto status = mark_seen(Key::clock_hint, "clock_hint"); !status) {
    return status;
  }
  if (value.empty() || value.size() > kMaxPromptLength) {
    return config_error("clock_hint=: must be 1 to " + std::to_string(kMaxPromptLength) +
                        " characters, or off");
  }
  for (const char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      return config_error("clock_hint=: control characters are not allowed");
    }
  }
  config_.clock_hint = std::string(value);
  return {};
}

Status ArgumentParser::parse_log_copy(std::string_view value) {
  if (auto status = mark_seen(Key::log_copy, "log_copy"); !status) {
    return status;
  }
  if (value == "stderr") {
    config_.log_copy = LogCopy::stderr_stream;
  } else if (value == "conversation") {
    config_.log_copy = LogCopy::conversation;
  } else {
    return config_error("log_copy=: expected stderr or conversation");
  }
  return {};
}

std::optional<std::uint32_t> parse_decimal(std::string_view value);

Status ArgumentParser::parse_fail_time(std::string_view value) {
  if (auto status = mark_seen(Key::fail_time, "fail_time"); !status) {
    return status;
  }
  const auto ms = parse_decimal(value);
  if (!ms || *ms < kMinFailTimeMs || *ms > kMaxFailTimeMs) {
    return config_error("fail_time=: expected " + std::to_string(kMinFailTimeMs) + " to " +
                        std::to_string(kMaxFailTimeMs) + " milliseconds");
  }
  config_.fail_time_ms = *ms;
  return {};
}

Status ArgumentParser::set_code_source(CodeSource source, std::string_view name) {
  if (seen_[static_cast<std::size_t>(Key::code_source)]) {
    return config_error("only one of try_first_pass, use_first_pass, forward_pass may be given (" +
                        std::string(name) + ")");
  }
  seen_[static_cast<std::size_t>(Key::code_source)] = true;
  config_.code_source = source;
  return {};
}

Status ArgumentParser::parse_flag(std::string_view arg) {
  if (arg == "nullok") {
    config_.nullok = true;
    return mark_seen(Key::nullok, arg);
  }
  if (arg == "debug") {
    config_.debug = true;
    return mark_seen(Key::debug, arg);
  }
  if (arg == "echo_verification_code") {
    config_.echo_code = true;
    return mark_seen(Key::echo, arg);
  }
  if (arg == "audit_json") {
    config_.audit_json = true;
    return mark_seen(Key::audit_json, arg);
  }
  if (arg == "no_strict_modes") {
    config_.strict_modes = false;
    return mark_seen(Key::no_strict_modes, arg);
  }
  if (arg == "nodelay") {
    config_.fail_delay = false;
    return mark_seen(Key::nodelay, arg);
  }
  if (arg == "try_first_pass") {
    return set_code_source(CodeSource::try_first_pass, arg);
  }
  if (arg == "use_first_pass") {
    return set_code_source(CodeSource::use_first_pass, arg);
  }
  if (arg == "forward_pass") {
    return set_code_source(CodeSource::forward_pass, arg);
  }
  // Unknown words may be typos of secrets pasted in the wrong place; show a
  // sanitized, bounded form only.
  return config_error("unknown argument: " + sanitize_log_field(arg.substr(0, 32)));
}

Status ArgumentParser::parse(std::string_view arg) {
  if (arg.size() > kMaxArgumentLength) {
    return config_error("argument longer than " + std::to_string(kMaxArgumentLength) +
                        " characters");
  }
  if (auto status = parse_google_authenticator_argument(arg)) {
    return *status;
  }
  if (auto status = parse_push_argument(arg)) {
    return *status;
  }
  const auto eq = arg.find('=');
  if (eq == std::string_view::npos) {
    return parse_flag(arg);
  }
  const auto key = arg.substr(0, eq);
  const auto value = arg.substr(eq + 1);
  if (key == "secret") {
    return parse_secret(value);
  }
  if (key == "user") {
    return parse_user(value);
  }
  if (key == "groups") {
    return parse_group_list(Key::groups, "groups", value, config_.scope_groups);
  }
  if (key == "skip_groups") {
    return parse_group_list(Key::skip_groups, "skip_groups", value, config_.skip_groups);
  }
  if (key == "window") {
    return parse_window(value);
  }
  if (key == "prompt") {
    return parse_prompt(value);
  }
  if (key == "clock_hint") {
    return parse_clock_hint(value);
  }
  if (key == "log_copy") {
    return parse_log_copy(value);
  }
  if (key == "fail_time") {
    return parse_fail_time(value);
  }
  return config_error("unknown argument: " + sanitize_log_field(key.substr(0, 32)) + "=...");
}

// ---------------------------------------------------------------------------
// pam_google_authenticator's arguments (Debian libpam-google-authenticator),
// so replacing the module name in a service file never locks anyone out.
// What each means in twostep, and why some change nothing:
// docs/admin-guide.md, "Migrating from pam_google_authenticator".

std::optional<std::uint32_t> parse_decimal(std::string_view value) {
  std::uint32_t number = 0;
  const auto* end = value.data() + value.size();
  const auto [ptr, ec] = std::from_chars(value.data(), end, number);
  if (value.empty() || ec != std::errc{} || ptr != end) {
    return std::nullopt;
  }
  return number;
}

// allowed_perm=0nnn as pam_google_authenticator reads it: octal, at most 0777.
std::optional<unsigned> parse_octal_mode(std::string_view value) {
  unsigned mode = 0;
  const auto* end = value.data() + value.size();
  const auto [ptr, ec] = std::from_chars(value.data(), end, mode, 8);
  if (value.empty() || value.size() > 4 || ec != std::errc{} || ptr != end || mode > 0777) {
    return std::nullopt;
  }
  return mode;
}

// The arguments only pam_google_authenticator has (its spellings of twostep's
// own are handled as aliases).
enum class GaArgument : std::size_t {
  grace_period, allow_readonly, allowed_perm, no_strict_owner, noskewadj, no_increment_hotp,
  count
};
constexpr std::array<std::string_view, static_cast<std::size_t>(GaArgument::count)> kGaNames = {
    "grace_period", "allow_readonly", "allowed_perm", "no_strict_owner", "noskewadj",
    "no_increment_hotp"};

std::optional<GaArgument> ga_argument_named(std::string_view key) {
  for (std::size_t i = 0; i < kGaNames.size(); ++i) {
    if (kGaNames[i] == key) {
      return static_cast<GaArgument>(i);
    }
  }
  return std::nullopt;
}

std::optional<Status> ArgumentParser::parse_google_authenticator_argument(std::string_view arg) {
  static_assert(kGaNames.size() <= std::tuple_size_v<decltype(ga_seen_)>);
  const auto eq = arg.find('=');
  const bool has_value = eq != std::string_view::npos;
  const auto key = arg.substr(0, eq);
  const auto value = has_value ? arg.substr(eq + 1) : std::string_view{};
  // The aliases share the seen-flag of twostep's own spelling.
  if (has_value && key == "authtok_prompt") {
    return parse_prompt(value);
  }
  if (!has_value && key == "echo-verification-code") {
    config_.echo_code = true;
    return mark_seen(Key::echo, "echo_verification_code");
  }
  const auto argument = ga_argument_named(key);
  if (!argument) {
    return std::nullopt;
  }
  const bool wants_value =
      *argument == GaArgument::grace_period || *argument == GaArgument::allowed_perm;
  if (wants_value != has_value) {
    return config_error(std::string(key) + (wants_value ? " needs =VALUE" : " takes no value"));
  }
  auto& seen = ga_seen_[static_cast<std::size_t>(*argument)];
  if (seen) {
    return config_error("argument given twice: " + std::string(key));
  }
  seen = true;
  return apply_google_authenticator_argument(*argument, value);
}

std::optional<Status> ArgumentParser::apply_google_authenticator_argument(GaArgument argument,
                                                                          std::string_view value) {
  switch (argument) {
    case GaArgument::grace_period:
      return parse_grace_period(value);
    case GaArgument::allow_readonly:
      config_.allow_readonly = true;
      return Status{};
    case GaArgument::allowed_perm:
      return parse_allowed_perm(value);
    case GaArgument::no_strict_owner:
      config_.notices.push_back(
          "no_strict_owner ignored: twostep still requires the secret file to be owned by "
          "the user it is read as (a file someone else owns can be replaced by them)");
      return Status{};
    case GaArgument::noskewadj:
      config_.notices.push_back(
          "noskewadj changes nothing: twostep never adjusts clock skew on its own");
      return Status{};
    case GaArgument::no_increment_hotp:
      config_.notices.push_back(
          "no_increment_hotp changes nothing: twostep never advances the HOTP counter on a "
          "failed attempt");
      return Status{};
    case GaArgument::count:
      break;
  }
  return std::nullopt;
}

Status ArgumentParser::parse_grace_period(std::string_view value) {
  const auto seconds = parse_decimal(value);
  if (!seconds) {
    return config_error("grace_period=: expected a number of seconds");
  }
  if (*seconds > kMaxGracePeriod) {
    config_.notices.push_back("grace_period=" + std::to_string(*seconds) + " capped at " +
                              std::to_string(kMaxGracePeriod) + " seconds (30 days)");
  }
  config_.grace_period = *seconds < kMaxGracePeriod ? *seconds : kMaxGracePeriod;
  return Status{};
}

Status ArgumentParser::parse_allowed_perm(std::string_view value) {
  const auto mode = parse_octal_mode(value);
  if (!mode) {
    return config_error("allowed_perm=: expected an octal mode, at most 0777");
  }
  if ((*mode & 077U) != 0) {
    config_.notices.push_back(
        "allowed_perm= grants group/other access; twostep still refuses a secret file "
        "with any group or other permission bit (anyone who can read the seed can make "
        "codes)");
  }
  return Status{};
}

// ---------------------------------------------------------------------------
// Push approval arguments (issue 13).

std::optional<Status> ArgumentParser::parse_push_argument(std::string_view arg) {
  constexpr std::array<std::string_view, 4> kNames = {"push", "push_config", "push_timeout",
                                                      "failmode"};
  const auto eq = arg.find('=');
  const bool has_value = eq != std::string_view::npos;
  const auto key = arg.substr(0, eq);
  const auto value = has_value ? arg.substr(eq + 1) : std::string_view{};
  std::size_t index = 0;
  while (index < kNames.size() && kNames[index] != key) ++index;
  if (index == kNames.size()) {
    return std::nullopt;
  }
  if ((index == 0) == has_value) {
    return config_error(std::string(key) + (index == 0 ? " takes no value" : " needs =VALUE"));
  }
  if (push_seen_[index]) {
    return config_error("argument given twice: " + std::string(key));
  }
  push_seen_[index] = true;
  switch (index) {
    case 0:
      config_.push = true;
      return Status{};
    case 1:
      if (value.empty() || value.front() != '/' || value.size() > 4096 ||
          value.find_first_of(std::string_view("\0\n\r\t ", 5)) != std::string_view::npos) {
        return config_error("push_config=: expected an absolute path");
      }
      config_.push_config = std::string(value);
      return Status{};
    case 2: {
      const auto seconds = parse_decimal(value);
      if (!seconds || *seconds < kMinPushTimeout || *seconds > kMaxPushTimeout) {
        return config_error("push_timeout=: expected " + std::to_string(kMinPushTimeout) + " to " +
                            std::to_string(kMaxPushTimeout) + " seconds");
      }
      config_.push_timeout = *seconds;
      return Status{};
    }
    default:
      if (value == "secure") {
        config_.failmode = PushFailmode::secure;
      } else if (value == "safe") {
        config_.failmode = PushFailmode::safe;
      } else if (value == "totp") {
        config_.failmode = PushFailmode::totp;
      } else {
        return config_error("failmode=: expected secure, safe or totp");
      }
      return Status{};
  }
}

Result<Config> ArgumentParser::finish() {
  if (!config_.push && (push_seen_[1] || push_seen_[2] || push_seen_[3])) {
    return config_error("push_config=, push_timeout= and failmode= need the argument push");
  }
  if (config_.push && config_.code_source != CodeSource::prompt) {
    return config_error(
        "push needs the module's own prompt (not try_first_pass, use_first_pass or forward_pass)");
  }
  if (config_.echo_code && config_.code_source == CodeSource::forward_pass) {
    return config_error(
        "echo_verification_code cannot be combined with forward_pass (it would echo the "
        "password)");
  }
  if (config_.prompt && config_.code_source == CodeSource::use_first_pass) {
    return config_error("prompt= has no effect with use_first_pass");
  }
  return std::move(config_);
}

}  // namespace

Result<Config> parse_module_arguments(std::span<const char* const> args) {
  if (args.size() > kMaxArguments) {
    return config_error("more than " + std::to_string(kMaxArguments) + " arguments");
  }
  ArgumentParser parser;
  for (const char* arg : args) {
    if (arg == nullptr) {
      return config_error("null argument");
    }
    if (auto status = parser.parse(arg); !status) {
      return status.error();
    }
  }
  return parser.finish();
}

}  // namespace twostep::pam
