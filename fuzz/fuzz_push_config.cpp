// /etc/twostep/push.conf (twostep-push.conf(5)) as parse_push_config reads
// it, for the module and twostep-enroll.
//
// Invariants: only a file over 16 KiB is too_large; every other refusal is
// malformed and names a line of the file ("line N: ", 1 <= N <= lines) or a
// missing required key; an accepted file keeps the man page's rules (required
// keys present, values without blanks or control characters, https/http
// relay, a 22-character host_id, host_name of at most 64 bytes, an approver
// origin that rp_id_from_origin takes, absolute paths, sha256// pins,
// connect_timeout 1..60); and the settings written back, in either of the two
// documented line forms, in another order, with comments and CRLF, parse to
// the very same settings.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fuzz_check.hpp"
#include "twostep/push_login.hpp"

using namespace twostep;
using namespace twostep::push;

namespace {

std::size_t line_count(std::string_view text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) +
         (text.empty() || text.back() == '\n' ? 0 : 1);
}

void check_refusal(const Error& error, std::string_view text) {
  if (text.size() > kMaxPushConfigBytes) {
    FUZZ_CHECK(error.code == ErrorCode::too_large);
    return;
  }
  FUZZ_CHECK(error.code == ErrorCode::malformed);
  const std::string& message = error.message;
  if (message.starts_with("push config: missing ")) {
    const std::string_view key = std::string_view(message).substr(21);
    FUZZ_CHECK(key == "relay" || key == "host_id" || key == "host_name" || key == "approver_origin");
    return;
  }
  FUZZ_CHECK(message.starts_with("line "));
  std::size_t number = 0;
  std::size_t i = 5;
  while (i < message.size() && message[i] >= '0' && message[i] <= '9') number = number * 10 + (message[i++] - '0');
  FUZZ_CHECK(i > 5 && message.compare(i, 2, ": ") == 0);
  FUZZ_CHECK(number >= 1 && number <= line_count(text));
}

bool plain_value(std::string_view value) {
  return !value.empty() && value.size() <= 1024 && std::none_of(value.begin(), value.end(), [](char c) {
    const auto b = static_cast<unsigned char>(c);
    return b <= 0x20 || b == 0x7f;
  });
}

void check_accepted(const HostSettings& s) {
  FUZZ_CHECK(plain_value(s.relay_url) && plain_value(s.host_id) && plain_value(s.host_name) &&
             plain_value(s.approver_origin) && plain_value(s.host_secret_file));
  FUZZ_CHECK(s.relay_url.starts_with("https://") || s.relay_url.starts_with("http://"));
  FUZZ_CHECK(s.host_id.size() == 22 && is_b64u_of_size(s.host_id, kIdBytes));
  FUZZ_CHECK(s.host_name.size() <= 64);
  FUZZ_CHECK(rp_id_from_origin(s.approver_origin).ok());
  FUZZ_CHECK(s.host_secret_file.starts_with('/'));
  if (s.ca_file) FUZZ_CHECK(plain_value(*s.ca_file) && s.ca_file->starts_with('/'));
  if (s.pinned_key) FUZZ_CHECK(plain_value(*s.pinned_key) && s.pinned_key->starts_with("sha256//"));
  if (s.proxy) FUZZ_CHECK(plain_value(*s.proxy));
  FUZZ_CHECK(s.connect_timeout_s >= 1 && s.connect_timeout_s <= 60);
}

// The settings as KEY/VALUE pairs; optional ones only when set.
std::vector<std::pair<std::string, std::string>> settings_lines(const HostSettings& s) {
  std::vector<std::pair<std::string, std::string>> lines = {
      {"relay", s.relay_url},
      {"host_id", s.host_id},
      {"host_name", s.host_name},
      {"approver_origin", s.approver_origin},
      {"host_secret_file", s.host_secret_file},
      {"connect_timeout", std::to_string(s.connect_timeout_s)}};
  if (s.ca_file) lines.emplace_back("ca_file", *s.ca_file);
  if (s.pinned_key) lines.emplace_back("pin", *s.pinned_key);
  if (s.proxy) lines.emplace_back("proxy", *s.proxy);
  return lines;
}

bool same_settings(const HostSettings& a, const HostSettings& b) {
  return a.relay_url == b.relay_url && a.host_id == b.host_id && a.host_name == b.host_name &&
         a.approver_origin == b.approver_origin && a.ca_file == b.ca_file &&
         a.pinned_key == b.pinned_key && a.proxy == b.proxy &&
         a.host_secret_file == b.host_secret_file && a.connect_timeout_s == b.connect_timeout_s;
}

// "KEY = VALUE" lines as `twostepd host add` prints them, in order.
std::string written_with_equals(const HostSettings& s) {
  std::string text = "# written back by fuzz_push_config\n";
  for (const auto& [key, value] : settings_lines(s)) text += key + " = " + value + "\n";
  return text;
}

// "KEY VALUE" lines, last key first, CRLF, indented, with blank lines. A
// value that starts with '=' needs the "KEY = VALUE" form.
std::string written_plainly(const HostSettings& s) {
  auto lines = settings_lines(s);
  std::reverse(lines.begin(), lines.end());
  std::string text = "\r\n";
  for (const auto& [key, value] : lines) {
    text += "\t" + key + (value.starts_with('=') ? " = " : "  ") + value + " \r\n\n";
  }
  return text;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = parse_push_config(text);
  if (!parsed) {
    check_refusal(parsed.error(), text);
    return 0;
  }
  FUZZ_CHECK(text.size() <= kMaxPushConfigBytes);
  check_accepted(*parsed);
  for (const std::string& again : {written_with_equals(*parsed), written_plainly(*parsed)}) {
    auto reparsed = parse_push_config(again);
    FUZZ_CHECK(reparsed.ok());
    FUZZ_CHECK(same_settings(*parsed, *reparsed));
  }
  return 0;
}
