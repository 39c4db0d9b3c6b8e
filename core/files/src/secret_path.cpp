#include "twostep/secret_path.hpp"

#include <optional>

namespace twostep {

namespace {

enum class Expansion { none, home, user, percent };

struct Piece {
  Expansion expansion = Expansion::none;
  std::size_t length = 0;  // characters of the template consumed
};

// Recognizes one expansion at `pos`; nullopt for a '$' or '%' that starts
// none of the known ones (a template error).
std::optional<Piece> expansion_at(std::string_view text, std::size_t pos) {
  const auto rest = text.substr(pos);
  if (rest.starts_with("${HOME}")) {
    return Piece{Expansion::home, 7};
  }
  if (rest.starts_with("${USER}")) {
    return Piece{Expansion::user, 7};
  }
  if (rest.starts_with("%h")) {
    return Piece{Expansion::home, 2};
  }
  if (rest.starts_with("%u")) {
    return Piece{Expansion::user, 2};
  }
  if (rest.starts_with("%%")) {
    return Piece{Expansion::percent, 2};
  }
  if (rest.front() == '$' || rest.front() == '%') {
    return std::nullopt;
  }
  return Piece{Expansion::none, 1};
}

Error path_error(std::string message) {
  return make_error(ErrorCode::invalid_argument, std::move(message));
}

// "~" or "~/..." at the start means ${HOME}; "~name" is not supported.
Result<std::size_t> tilde_prefix_length(std::string_view path_template) {
  if (!path_template.starts_with('~')) {
    return std::size_t{0};
  }
  if (path_template.size() > 1 && path_template[1] != '/') {
    return path_error("only ~ and ~/... are supported, not ~name");
  }
  return std::size_t{1};
}

bool is_safe_user_name(std::string_view user) {
  return !user.empty() && user != "." && user != ".." &&
         user.find('/') == std::string_view::npos &&
         user.find('\0') == std::string_view::npos;
}

}  // namespace

Status validate_secret_path_template(std::string_view path_template) {
  if (path_template.empty()) {
    return path_error("empty path");
  }
  if (path_template.size() > kMaxSecretPathLength) {
    return path_error("path too long");
  }
  auto tilde = tilde_prefix_length(path_template);
  if (!tilde) {
    return tilde.error();
  }
  const bool starts_with_home = *tilde == 1 || path_template.starts_with("${HOME}") ||
                                path_template.starts_with("%h");
  if (!starts_with_home && !path_template.starts_with('/')) {
    return path_error("path must be absolute or start with ~, ${HOME} or %h");
  }
  for (std::size_t pos = *tilde; pos < path_template.size();) {
    const auto piece = expansion_at(path_template, pos);
    if (!piece) {
      return path_error("unknown expansion at position " + std::to_string(pos + 1) +
                        " (known: ~, ${HOME}, ${USER}, %h, %u, %%)");
    }
    pos += piece->length;
  }
  return {};
}

Result<std::string> expand_secret_path(std::string_view path_template,
                                       const PathContext& context) {
  if (auto status = validate_secret_path_template(path_template); !status) {
    return status.error();
  }
  if (!is_safe_user_name(context.user)) {
    return path_error("user name cannot be used in a path");
  }
  if (!context.home.starts_with('/')) {
    return path_error("home directory is not absolute");
  }
  const std::size_t tilde = tilde_prefix_length(path_template).value();
  std::string path = tilde == 1 ? std::string(context.home) : std::string();
  for (std::size_t pos = tilde; pos < path_template.size();) {
    const auto piece = expansion_at(path_template, pos).value();
    switch (piece.expansion) {
      case Expansion::home: path += context.home; break;
      case Expansion::user: path += context.user; break;
      case Expansion::percent: path += '%'; break;
      case Expansion::none: path += path_template[pos]; break;
    }
    pos += piece.length;
    if (path.size() > kMaxSecretPathLength) {
      return path_error("expanded path too long");
    }
  }
  return path;
}

}  // namespace twostep
