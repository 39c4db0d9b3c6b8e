#include "audit.hpp"

namespace twostep::pam {

std::string sanitize_log_field(std::string_view value) {
  if (value.empty()) {
    return "-";
  }
  std::string out;
  const auto length = value.size() < kMaxAuditFieldLength ? value.size() : kMaxAuditFieldLength;
  out.reserve(length);
  for (const char c : value.substr(0, length)) {
    const auto byte = static_cast<unsigned char>(c);
    const bool plain = byte > 0x20 && byte < 0x7f && c != '=' && c != '"';
    out += plain ? c : '?';
  }
  return out;
}

std::string format_audit_line(const AuditRecord& record) {
  std::string line = "twostep: user=" + sanitize_log_field(record.user);
  line += " service=" + sanitize_log_field(record.service);
  line += " rhost=" + sanitize_log_field(record.rhost);
  line += " tty=" + sanitize_log_field(record.tty);
  line += " method=";
  line += to_string(record.method);
  line += " result=" + sanitize_log_field(record.result);
  line += " reason=" + sanitize_log_field(record.reason);
  if (record.method == VerifyMethod::push) {
    line += " device=" + sanitize_log_field(record.device);
    if (!record.failmode.empty()) line += " failmode=" + sanitize_log_field(record.failmode);
  }
  return line;
}

namespace {

void add_json_field(std::string& out, std::string_view key, std::string_view value) {
  out += out.size() > 1 ? ",\"" : "\"";
  out += key;
  out += "\":\"";
  const auto length = value.size() < kMaxAuditFieldLength ? value.size() : kMaxAuditFieldLength;
  for (const char c : value.substr(0, length)) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') out += '\\';
    out += byte >= 0x20 && byte < 0x7f ? c : '?';
  }
  out += '"';
}

}  // namespace

std::string format_audit_json(const AuditRecord& record) {
  std::string out = "{";
  add_json_field(out, "event", "login");
  add_json_field(out, "user", record.user);
  add_json_field(out, "service", record.service);
  add_json_field(out, "rhost", record.rhost);
  add_json_field(out, "tty", record.tty);
  add_json_field(out, "method", to_string(record.method));
  add_json_field(out, "result", record.result);
  add_json_field(out, "reason", record.reason);
  if (record.method == VerifyMethod::push) {
    add_json_field(out, "device", record.device);
    if (!record.failmode.empty()) add_json_field(out, "failmode", record.failmode);
  }
  out += '}';
  return out;
}

}  // namespace twostep::pam
