// The one rule for text that people see or logs record (user, host, service,
// rhost, tty, device names: shown on the phone, printed on terminals,
// written to logs). A byte string passes when it is valid UTF-8 with none
// of the code points that let text lie about itself:
//   - C0 controls U+0000..U+001F and DEL U+007F (escape sequences, fake lines);
//   - C1 controls U+0080..U+009F (CSI and friends on some terminals);
//   - bidirectional formatting U+061C, U+200E, U+200F, U+202A..U+202E,
//     U+2066..U+2069 (a host name or an address shown reversed).
// The relay refuses such text (400); the module replaces it with '?' in what
// it sends and in the digest the phone signs, so both sides see the same.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace twostep {

// Why `text` fails the rule ("a control character", "a C1 control
// character", "a bidirectional formatting character", "invalid UTF-8"), or
// nullopt when it passes.
std::optional<std::string_view> display_text_problem(std::string_view text) noexcept;

// `text` with every failing code point (and every byte of invalid UTF-8)
// replaced by '?'; passing text is returned unchanged.
std::string safe_display_text(std::string_view text);

// `text` cut to at most `max_bytes` bytes (>= 16) so that a cut shows: the
// start and the end kept, joined by " … " (U+2026), each part ending on a
// whole code point. A command's program and its last words both matter, so
// neither end is dropped. Text that fits is returned unchanged. Apply it to
// safe_display_text's output.
std::string cut_display_text(std::string_view text, std::size_t max_bytes);

// True when a JSON text has an object with the same key twice (anywhere).
// Parsers keep one of the two silently, so a signer and a reader could see
// different values: such documents are refused. Invalid JSON: false (the
// parser reports it).
bool json_has_duplicate_keys(std::string_view json_text);

}  // namespace twostep
