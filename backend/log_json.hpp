// log_format = json (docs/admin-guide.md, "Log lines"): the relay's log as
// one JSON object per line. ASCII only (everything else as \u escapes,
// invalid UTF-8 replaced), so that a value from a stranger can neither end
// the line nor pass for another field: the JSON counterpart of the rule of
// log_field.hpp.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "store.hpp"

namespace twostep::relay {

// An audit event's fields, as `twostepd audit --json` prints them (with
// its seq) and as the log's audit lines carry them.
nlohmann::json audit_object(const AuditEvent& e);

// One line: the object, ASCII only, no newline inside.
std::string json_line(const nlohmann::json& object);

// An audit event as a log line: its fields and "source": "twostepd".
std::string json_audit_line(const AuditEvent& e);

// Any other log line, "twostepd: <message>", as an object: time (Unix
// seconds), source, event "log", message.
std::string json_log_line(std::string_view text_line, Seconds now);

}  // namespace twostep::relay
