#include "log_json.hpp"

namespace twostep::relay {

nlohmann::json audit_object(const AuditEvent& e) {
  return {{"time", e.time},       {"event", e.event},   {"host", e.host},
          {"user", e.user},       {"service", e.service}, {"rhost", e.rhost},
          {"challenge", e.challenge_id}, {"device", e.device}, {"result", e.result},
          {"ms", e.ms >= 0 ? nlohmann::json(e.ms) : nlohmann::json(nullptr)}};
}

std::string json_line(const nlohmann::json& object) {
  return object.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
}

std::string json_audit_line(const AuditEvent& e) {
  nlohmann::json j = audit_object(e);
  j["source"] = "twostepd";
  return json_line(j);
}

std::string json_log_line(std::string_view text_line, Seconds now) {
  constexpr std::string_view kPrefix = "twostepd: ";
  if (text_line.starts_with(kPrefix)) text_line.remove_prefix(kPrefix.size());
  return json_line({{"time", now}, {"source", "twostepd"}, {"event", "log"},
                    {"message", std::string(text_line)}});
}

}  // namespace twostep::relay
