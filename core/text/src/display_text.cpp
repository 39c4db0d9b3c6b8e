#include "twostep/display_text.hpp"

#include <cstdint>
#include <set>
#include <vector>

#include <nlohmann/json.hpp>

namespace twostep {
namespace {

struct CodePoint {
  std::uint32_t value = 0;
  std::size_t length = 0;  // 0: invalid UTF-8 at this position
};

// One UTF-8 sequence, strictly: no overlongs, no surrogates, <= U+10FFFF.
CodePoint decode_at(std::string_view text, std::size_t at) noexcept {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[at + i]); };
  const unsigned char first = byte(0);
  if (first < 0x80) return {first, 1};
  std::size_t length = 0;
  std::uint32_t value = 0;
  std::uint32_t minimum = 0;
  if ((first & 0xe0) == 0xc0) {
    length = 2, value = first & 0x1fu, minimum = 0x80;
  } else if ((first & 0xf0) == 0xe0) {
    length = 3, value = first & 0x0fu, minimum = 0x800;
  } else if ((first & 0xf8) == 0xf0) {
    length = 4, value = first & 0x07u, minimum = 0x10000;
  } else {
    return {};
  }
  if (at + length > text.size()) return {};
  for (std::size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xc0) != 0x80) return {};
    value = (value << 6) | (byte(i) & 0x3fu);
  }
  if (value < minimum || value > 0x10ffff || (value >= 0xd800 && value <= 0xdfff)) return {};
  return {value, length};
}

std::optional<std::string_view> problem_of(std::uint32_t cp) noexcept {
  if (cp < 0x20 || cp == 0x7f) return "a control character";
  if (cp >= 0x80 && cp <= 0x9f) return "a C1 control character";
  const bool bidi = cp == 0x061c || cp == 0x200e || cp == 0x200f ||
                    (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
  if (bidi) return "a bidirectional formatting character";
  return std::nullopt;
}

// Records the keys of each open object; a key seen twice in one object
// stops the parse.
class DuplicateKeyFinder : public nlohmann::json_sax<nlohmann::json> {
 public:
  bool found = false;
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override {
    keys_.emplace_back();
    return true;
  }
  bool key(string_t& name) override {
    found = !keys_.back().insert(name).second;
    return !found;
  }
  bool end_object() override {
    keys_.pop_back();
    return true;
  }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

 private:
  std::vector<std::set<std::string>> keys_;
};

}  // namespace

std::optional<std::string_view> display_text_problem(std::string_view text) noexcept {
  for (std::size_t at = 0; at < text.size();) {
    const CodePoint cp = decode_at(text, at);
    if (cp.length == 0) return "invalid UTF-8";
    if (auto problem = problem_of(cp.value)) return problem;
    at += cp.length;
  }
  return std::nullopt;
}

std::string safe_display_text(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t at = 0; at < text.size();) {
    const CodePoint cp = decode_at(text, at);
    if (cp.length == 0) {
      out += '?';
      ++at;
      continue;
    }
    if (problem_of(cp.value)) {
      out += '?';
    } else {
      out.append(text.substr(at, cp.length));
    }
    at += cp.length;
  }
  return out;
}

namespace {

bool continuation_byte(char c) noexcept { return (static_cast<unsigned char>(c) & 0xc0) == 0x80; }

}  // namespace

std::string cut_display_text(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  constexpr std::string_view kMark = " \xe2\x80\xa6 ";  // " … "
  const std::size_t room = max_bytes > kMark.size() ? max_bytes - kMark.size() : 0;
  const std::size_t tail = room / 3;  // the start keeps two thirds
  std::size_t head = room - tail;
  while (head > 0 && continuation_byte(text[head])) --head;
  std::size_t tail_start = text.size() - tail;
  while (tail_start < text.size() && continuation_byte(text[tail_start])) ++tail_start;
  std::string out(text.substr(0, head));
  out += kMark;
  out.append(text.substr(tail_start));
  return out;
}

bool json_has_duplicate_keys(std::string_view json_text) {
  DuplicateKeyFinder finder;
  (void)nlohmann::json::sax_parse(json_text.begin(), json_text.end(), &finder);
  return finder.found;
}

}  // namespace twostep
