#include "token_display.hpp"

#include "twostep/base32.hpp"
#include "twostep/otpauth_uri.hpp"
#include "twostep/secret_path.hpp"

namespace twostep::enroll {

AppLabel app_label(const Options& options, const TargetUser& target) {
  const std::string host = short_hostname();
  return AppLabel{options.issuer.value_or(host),
                  options.label.value_or(default_account_label(options, target, host))};
}

std::string default_account_label(const Options& options, const TargetUser& target,
                                  const std::string& host) {
  const std::string account = target.name + "@" + host;
  if (!options.secret_file) return account;
  // A file outside the home (the root-owned central directory, for sudo)
  // gets its own label, so the app shows two different entries.
  auto path = expand_secret_path(*options.secret_file, PathContext{target.name, target.home});
  const std::string home = target.home.ends_with('/') ? target.home : target.home + "/";
  if (!path || path->starts_with(home)) return account;
  return account + " (central)";
}

AppLabel app_label_of(const Options& options, const TargetUser& target, const Token& token) {
  AppLabel label = app_label(options, target);
  if (!options.issuer && !token.issuer.empty()) label.issuer = token.issuer;
  if (!options.label && !token.label.empty()) label.account = token.label;
  return label;
}

void remember_label(Token& token, const AppLabel& label) {
  token.issuer = label.issuer;
  token.label = label.account;
}

Result<SecretBytes> token_uri(const Token& token, const AppLabel& label) {
  return build_otpauth_uri(token, UriLabel{label.issuer, label.account});
}

QrStyle effective_qr_style(const Options& options, const Console& console) {
  if (options.qr_explicit) return options.qr;
  return resolve_auto_qr(console.text_is_tty());
}


std::string describe_parameters(const Token& token) {
  std::string text = token.kind == TokenKind::totp ? "TOTP" : "HOTP";
  text += std::string(", ") + to_string(token.algorithm) + ", " + std::to_string(token.digits) +
          " digits";
  if (token.kind == TokenKind::totp) text += ", every " + std::to_string(token.period) + " s";
  return text;
}

namespace {

// Lines on screen besides the QR rows: one printed before show_token (the
// wizard's "Enrolling ..."), the confirmation prompt after it (kLinesBelowQr),
// and show_token's own: label, key header, key and "Scan ..." in the full
// layout; in the compact one the key below the QR, and the label above it
// when a row is left for it.
constexpr unsigned kFullLayoutLines = 1 + kLinesBelowQr + 4;
constexpr unsigned kCompactLayoutLines = 1 + kLinesBelowQr + 1;

bool fits(const QrMatrix& matrix, QrStyle style, unsigned quiet, unsigned text_lines,
          TerminalSize terminal) {
  const TerminalQrSize size = terminal_qr_size(matrix, style, quiet);
  return size.columns <= terminal.columns && size.rows + text_lines <= terminal.rows;
}

void print_key(const Console& console, const Token& token, std::string_view prefix) {
  const SecretBytes key = base32_encode(token.key.span());
  const SecretBytes grouped = base32_group(key.view());
  std::fputs(std::string(prefix).c_str(), console.text());
  console.secret(grouped);
  std::fputc('\n', console.text());
}

}  // namespace

unsigned choose_quiet_zone(const QrMatrix& matrix, QrStyle style, TerminalSize terminal) {
  return fits(matrix, style, kQuietZone, kCompactLayoutLines, terminal) ? kQuietZone
                                                                        : kQuietZoneCompact;
}

Status show_token(const Console& console, const Token& token, const AppLabel& label,
                  const SecretBytes& uri, QrStyle style, bool style_is_auto) {
  const std::string listed = "\"" + label.issuer + "\" / \"" + label.account + "\"";
  if (style == QrStyle::none) {
    console.always("The app will list it as " + listed + ".");
    console.always("Manual entry key (" + describe_parameters(token) + "):");
    print_key(console, token, "  ");
    return {};
  }
  auto matrix = encode_qr(uri);
  if (!matrix) return matrix.error();
  const TerminalSize terminal = console.text_size();
  if (style_is_auto && style == QrStyle::utf8 &&
      fits(*matrix, QrStyle::ansi, kQuietZone, kFullLayoutLines, terminal)) {
    style = QrStyle::ansi;
  }
  // The full layout when everything fits the terminal (or there is no
  // terminal: a log or a pipe has no screen to fit); else (an 80x24
  // terminal) the compact one, so that neither the key nor the top of the QR
  // scrolls away before the prompt.
  if (!console.text_is_tty() || fits(*matrix, style, kQuietZone, kFullLayoutLines, terminal)) {
    console.always("The app will list it as " + listed + ".");
    console.always("Manual entry key (" + describe_parameters(token) + "):");
    print_key(console, token, "  ");
    console.always("Scan this QR code with your authenticator app:");
    console.flush();
    render_terminal_qr(*matrix, style, kQuietZone, console.text());
    return {};
  }
  const unsigned quiet = choose_quiet_zone(*matrix, style, terminal);
  const TerminalQrSize size = terminal_qr_size(*matrix, style, quiet);
  if (size.columns > terminal.columns || size.rows + kCompactLayoutLines > terminal.rows) {
    console.warn("the QR code needs " + std::to_string(size.columns) + "x" +
                 std::to_string(size.rows + kCompactLayoutLines) +
                 " characters; enlarge the terminal, try --qr=utf8, or use --png");
  }
  if (size.rows + kCompactLayoutLines + 1 <= terminal.rows) {
    console.always("Scan with your authenticator app (listed as " + listed + "):");
  }
  console.flush();
  render_terminal_qr(*matrix, style, quiet, console.text());
  print_key(console, token,
            uses_non_default_parameters(token)
                ? "Scan it, or type the key (" + describe_parameters(token) + "): "
                : std::string("Scan it with your app, or type the key: "));
  return {};
}

Status write_qr_images(const Console& console, const Options& options, const SecretBytes& uri,
                       WrittenFiles& files) {
  if (!options.png && !options.svg) return {};
  auto matrix = encode_qr(uri);
  if (!matrix) return matrix.error();
  if (options.png) {
    auto png = render_png(*matrix);
    if (!png) return png.error();
    if (auto written = files.write(*options.png, *png, options.force); !written) return written;
    console.warn(*options.png + " contains the secret; delete it once the app has scanned it");
  }
  if (options.svg) {
    const SecretBytes svg = render_svg(*matrix);
    if (auto written = files.write(*options.svg, svg, options.force); !written) return written;
    console.warn(*options.svg + " contains the secret; delete it once the app has scanned it");
  }
  return {};
}

bool uses_non_default_parameters(const Token& token) {
  return token.algorithm != HashAlgorithm::sha1 || token.digits != 6 ||
         (token.kind == TokenKind::totp && token.period != 30);
}

void warn_about_app_support(const Console& console, const Token& token) {
  if (token.algorithm != HashAlgorithm::sha1 || (token.kind == TokenKind::totp && token.period != 30)) {
    console.warn(std::string("Google Authenticator and Microsoft Authenticator ignore ") +
                 (token.algorithm != HashAlgorithm::sha1 ? to_string(token.algorithm) : "") +
                 (token.algorithm != HashAlgorithm::sha1 && token.period != 30 ? " and " : "") +
                 (token.period != 30 ? "periods other than 30 s" : "") +
                 " and show wrong codes; use an app that supports them (e.g. FreeOTP, Aegis)");
  }
  if (token.digits == 7) console.warn("7-digit codes are not supported by many apps");
  if (token.digits == 8) console.warn("8-digit codes work in most apps, but not all");
}

void print_backup_codes(const Console& console, const std::vector<SecretBytes>& codes) {
  if (codes.empty()) return;
  console.info("");
  console.info("Backup codes (each works once, for when your phone is not at hand).");
  console.info("Store them somewhere safe now; they will not be shown again:");
  for (const SecretBytes& code : codes) {
    std::fputs(console.quiet() ? "" : "  ", console.text());
    console.secret(code);
    std::fputc('\n', console.text());
  }
  console.flush();
}

}  // namespace twostep::enroll
