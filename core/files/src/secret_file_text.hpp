// Line handling shared by the secret-file parsers and writers (private).
#pragma once

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

#include "twostep/result.hpp"
#include "twostep/secret.hpp"
#include "twostep/secret_file.hpp"

namespace twostep::file_text {

// "line N: what". `what` must never contain file content.
inline Error line_error(std::size_t line_number, const std::string& what,
                        ErrorCode code = ErrorCode::malformed) {
  return make_error(code, "line " + std::to_string(line_number) + ": " + what);
}

// Splits `text` into lines that keep their '\n' (the last may lack one),
// enforcing the size, line-count and line-length limits and refusing control
// characters other than tab. Empty input gives no lines.
inline Result<std::vector<std::string>> split_lines(std::string_view text,
                                                   std::size_t max_line = kMaxLineLength) {
  std::vector<std::string> lines;
  // One allocation up front: no reallocation moves copies of secret lines around.
  std::size_t count = 0;
  for (const char c : text) count += c == '\n' ? 1 : 0;
  lines.reserve(std::min(count + 1, kMaxLines + 1));
  std::size_t offset = 0;
  while (offset < text.size()) {
    const std::size_t number = lines.size() + 1;
    if (number > kMaxLines) {
      return line_error(number, "more than " + std::to_string(kMaxLines) + " lines",
                        ErrorCode::too_large);
    }
    const std::size_t newline = text.find('\n', offset);
    const std::size_t end = newline == std::string_view::npos ? text.size() : newline + 1;
    if (end > kMaxSecretFileBytes) {
      return line_error(number, "file larger than " + std::to_string(kMaxSecretFileBytes) +
                                    " bytes", ErrorCode::too_large);
    }
    const std::string_view line = text.substr(offset, end - offset);
    const std::size_t content = line.size() - (line.ends_with('\n') ? 1 : 0);
    if (content > max_line) {
      return line_error(number, "longer than " + std::to_string(max_line) + " bytes",
                        ErrorCode::too_large);
    }
    for (std::size_t i = 0; i < content; ++i) {
      const auto byte = static_cast<unsigned char>(line[i]);
      if ((byte < 0x20 && byte != '\t') || byte == 0x7f) {
        return line_error(number, "control character in column " + std::to_string(i + 1));
      }
    }
    lines.emplace_back(line);
    offset = end;
  }
  return lines;
}

// The line without its terminator.
inline std::string_view content_of(std::string_view line) {
  return line.ends_with('\n') ? line.substr(0, line.size() - 1) : line;
}

inline bool is_blank(char c) { return c == ' ' || c == '\t'; }

inline std::string_view trim(std::string_view text) {
  while (!text.empty() && is_blank(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_blank(text.back())) text.remove_suffix(1);
  return text;
}

// Fields separated by runs of spaces and tabs.
inline std::vector<std::string_view> split_fields(std::string_view text) {
  std::vector<std::string_view> fields;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_blank(text[i])) ++i;
    const std::size_t start = i;
    while (i < text.size() && !is_blank(text[i])) ++i;
    if (i > start) fields.push_back(text.substr(start, i - start));
  }
  return fields;
}

// A whole-field unsigned decimal (no sign, no spaces, no overflow), or a
// signed one when T is signed ("-" allowed, "+" never).
template <typename T>
std::optional<T> parse_integer(std::string_view text) {
  if (text.empty() || text.front() == '+') return std::nullopt;
  if (std::is_unsigned_v<T> && text.front() == '-') return std::nullopt;
  T value{};
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// Output under construction: original lines are referenced, new ones owned.
class LineWriter {
 public:
  void original(const std::string& line) { push(line); }
  void rendered(std::string_view line) {
    push(line);
    out_.append(std::string_view("\n"));
  }
  SecretBytes finish() { return std::move(out_); }

 private:
  void push(std::string_view text) {
    // A kept last line without '\n' that is now followed by more text.
    if (!out_.empty() && out_.data()[out_.size() - 1] != std::uint8_t{'\n'}) {
      out_.append(std::string_view("\n"));
    }
    out_.append(text);
  }
  SecretBytes out_;
};

// How a writer changes the original lines: each line is kept, replaced or
// dropped; new lines go after a given original line or at the end.
class EditPlan {
 public:
  explicit EditPlan(std::size_t line_count)
      : replacements_(line_count), replaced_(line_count, false), dropped_(line_count, false),
        inserted_(line_count) {}

  void replace(std::size_t index, SecretBytes line) {
    replacements_[index] = std::move(line);
    replaced_[index] = true;
  }
  void drop(std::size_t index) { dropped_[index] = true; }
  // `after` == nullopt: at the end of the file.
  void insert(std::optional<std::size_t> after, SecretBytes line) {
    if (after) {
      inserted_[*after].push_back(std::move(line));
    } else {
      appended_.push_back(std::move(line));
    }
  }

  SecretBytes render(const std::vector<std::string>& lines) const {
    LineWriter writer;
    for (std::size_t i = 0; i < lines.size(); ++i) {
      if (replaced_[i]) {
        writer.rendered(replacements_[i].view());
      } else if (!dropped_[i]) {
        writer.original(lines[i]);
      }
      for (const auto& line : inserted_[i]) writer.rendered(line.view());
    }
    for (const auto& line : appended_) writer.rendered(line.view());
    return writer.finish();
  }

 private:
  std::vector<SecretBytes> replacements_;
  std::vector<bool> replaced_;
  std::vector<bool> dropped_;
  std::vector<std::vector<SecretBytes>> inserted_;
  std::vector<SecretBytes> appended_;
};

// An exact copy of an enrollment (secrets cloned into fresh SecretBytes).
Enrollment copy_enrollment(const Enrollment& enrollment);

}  // namespace twostep::file_text

namespace twostep::detail {

// Base of each format's layout record (secret_file_native.cpp,
// secret_file_ga.cpp). `before` is the enrollment exactly as parsed from
// `line_count` original lines; writers compare it with the document's
// current enrollment to decide which lines to rewrite.
struct KeptLayout {
  KeptLayout(FileFormat kept_format, std::size_t lines, Enrollment as_read)
      : format(kept_format), line_count(lines), before(std::move(as_read)) {}
  virtual ~KeptLayout() = default;
  KeptLayout(const KeptLayout&) = delete;
  KeptLayout& operator=(const KeptLayout&) = delete;

  const FileFormat format;
  const std::size_t line_count;
  const Enrollment before;
};

}  // namespace twostep::detail

namespace twostep::file_text {

// The layout a parser kept for `document`, as the format's own record type,
// or nullptr when the document was not parsed as `format` from its current
// original lines.
template <typename Layout>
const Layout* kept_layout(const SecretDocument& document, FileFormat format) {
  const detail::KeptLayout* kept = document.layout.get();
  if (kept == nullptr || kept->format != format || document.format != format ||
      kept->line_count != document.original_lines.size()) {
    return nullptr;
  }
  return static_cast<const Layout*>(kept);
}

// Runs a format's parser over a writer's output, for serialize_secret_document's
// check that everything written loads again (no layout is kept for it).
Status check_native(std::string_view text);
Status check_google_authenticator(std::string_view text);

// Writers for each format (secret_file_native.cpp, secret_file_ga.cpp). They
// keep unchanged lines of document.original_lines byte for byte.
Result<SecretBytes> serialize_native(const SecretDocument& document);
Result<SecretBytes> serialize_google_authenticator(const SecretDocument& document);

}  // namespace twostep::file_text
