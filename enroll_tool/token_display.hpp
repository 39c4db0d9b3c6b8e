// Showing a token to the user: manual key, terminal QR, images, URI, and the
// backup codes. Shared by the wizard, --add-token and --show.
#pragma once

#include <string>
#include <vector>

#include "image_files.hpp"
#include "options.hpp"
#include "qr.hpp"
#include "target.hpp"
#include "terminal.hpp"
#include "twostep/enrollment.hpp"
#include "twostep/result.hpp"

namespace twostep::enroll {

struct AppLabel {
  std::string issuer;   // shown as the app's entry title
  std::string account;  // e.g. alice@myhost
};

// --issuer / --label, defaulting to the short host name and "<user>@<host>",
// or "<user>@<host> (central)" for a secret file outside the user's home.
AppLabel app_label(const Options& options, const TargetUser& target);
std::string default_account_label(const Options& options, const TargetUser& target,
                                  const std::string& host);

// For an existing token: --issuer / --label when given, else what the file
// recorded when the token was created (what the app was given), else the
// defaults of app_label().
AppLabel app_label_of(const Options& options, const TargetUser& target, const Token& token);

// Records `label` in the token, so --show can give the app the same again.
void remember_label(Token& token, const AppLabel& label);

Result<SecretBytes> token_uri(const Token& token, const AppLabel& label);

// The terminal QR style to use: --qr as given, or auto resolved against the
// console. Secrets are drawn only on a terminal unless asked for explicitly.
QrStyle effective_qr_style(const Options& options, const Console& console);

// Rows printed below the QR while the user scans (the code prompt).
inline constexpr unsigned kLinesBelowQr = 1;

// The standard 4-module quiet zone when the symbol and the compact layout's
// text still fit the terminal, else 2 (enough for phone scanners when drawn
// explicitly light).
unsigned choose_quiet_zone(const QrMatrix& matrix, QrStyle style, TerminalSize terminal);

// Prints what the app will show, the manual key in groups of four with its
// parameters, and the QR (if `style` is not none). When that does not fit
// the terminal's rows (80x24), a compact layout: one line above the QR, the
// key on one line below it, so nothing scrolls off before the prompt. With `style_is_auto`, a
// utf8 choice becomes ansi when that fits the terminal: whole coloured cells
// scan in every terminal, while half-block glyphs drawn from a font can leave
// lines between rows (xterm with TrueType fonts).
Status show_token(const Console& console, const Token& token, const AppLabel& label,
                  const SecretBytes& uri, QrStyle style, bool style_is_auto);

// --png / --svg, each with a warning that the file holds the secret.
Status write_qr_images(const Console& console, const Options& options, const SecretBytes& uri,
                       WrittenFiles& files);

// Warns when the token uses parameters popular apps silently ignore.
bool uses_non_default_parameters(const Token& token);
void warn_about_app_support(const Console& console, const Token& token);

void print_backup_codes(const Console& console, const std::vector<SecretBytes>& codes);

std::string describe_parameters(const Token& token);  // "TOTP, SHA1, 6 digits, 30 s"

}  // namespace twostep::enroll
