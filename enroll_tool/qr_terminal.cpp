// QR codes drawn with characters. Every line starts by setting both colours
// and ends with a reset, so the symbol does not depend on the theme and no
// colour leaks past the line.
#include "qr.hpp"

namespace twostep::enroll {
namespace {

constexpr std::string_view kBlackOnWhite = "\x1b[30;47m";
constexpr std::string_view kWhiteBackground = "\x1b[47m";
constexpr std::string_view kBlackBackground = "\x1b[40m";
constexpr std::string_view kReset = "\x1b[0m";

constexpr std::string_view kUpperHalf = "\u2580";  // ▀
constexpr std::string_view kLowerHalf = "\u2584";  // ▄

int total_modules(const QrMatrix& matrix, unsigned quiet) {
  return static_cast<int>(matrix.width() + 2 * quiet);
}

// One character cell holds two modules, one above the other. Cells whose two
// modules agree are drawn as a coloured space: the background fills the whole
// cell in every terminal, whereas a full-block glyph drawn from a font can
// leave a line between rows (xterm with TrueType fonts does), and such lines
// through the finder patterns stop scanners. Only mixed cells use a
// half-block glyph.
struct Utf8Cell {
  std::string_view colours;
  std::string_view glyph;
};

Utf8Cell utf8_cell(bool top_dark, bool bottom_dark) {
  if (top_dark && bottom_dark) return {kBlackBackground, " "};
  if (top_dark) return {kBlackOnWhite, kUpperHalf};
  if (bottom_dark) return {kBlackOnWhite, kLowerHalf};
  return {kBlackOnWhite, " "};
}

void append_utf8_rows(const QrMatrix& matrix, unsigned quiet, SecretBytes& out) {
  const int total = total_modules(matrix, quiet);
  for (int y = 0; y < total; y += 2) {
    std::string_view current;
    for (int x = 0; x < total; ++x) {
      const Utf8Cell cell = utf8_cell(matrix.dark_with_quiet_zone(x, y, quiet),
                                      matrix.dark_with_quiet_zone(x, y + 1, quiet));
      if (cell.colours != current) out.append(cell.colours);
      current = cell.colours;
      out.append(cell.glyph);
    }
    out.append(kReset);
    out.append("\n");
  }
}

void append_ansi_rows(const QrMatrix& matrix, unsigned quiet, SecretBytes& out) {
  const int total = total_modules(matrix, quiet);
  for (int y = 0; y < total; ++y) {
    bool current_dark = true;
    bool first = true;
    for (int x = 0; x < total; ++x) {
      const bool dark = matrix.dark_with_quiet_zone(x, y, quiet);
      if (first || dark != current_dark) out.append(dark ? kBlackBackground : kWhiteBackground);
      first = false;
      current_dark = dark;
      out.append("  ");
    }
    out.append(kReset);
    out.append("\n");
  }
}

void append_ascii_rows(const QrMatrix& matrix, unsigned quiet, SecretBytes& out) {
  const int total = total_modules(matrix, quiet);
  for (int y = 0; y < total; ++y) {
    for (int x = 0; x < total; ++x) out.append(matrix.dark_with_quiet_zone(x, y, quiet) ? "##" : "  ");
    out.append("\n");
  }
}

}  // namespace

TerminalQrSize terminal_qr_size(const QrMatrix& matrix, QrStyle style, unsigned quiet) {
  const unsigned total = matrix.width() + 2 * quiet;
  switch (style) {
    case QrStyle::utf8:
      return {total, (total + 1) / 2};
    case QrStyle::ansi:
    case QrStyle::ascii:
      return {2 * total, total};
    case QrStyle::none:
      break;
  }
  return {};
}

void render_terminal_qr(const QrMatrix& matrix, QrStyle style, unsigned quiet, std::FILE* out) {
  SecretBytes text;
  switch (style) {
    case QrStyle::utf8:
      append_utf8_rows(matrix, quiet, text);
      break;
    case QrStyle::ansi:
      append_ansi_rows(matrix, quiet, text);
      break;
    case QrStyle::ascii:
      append_ascii_rows(matrix, quiet, text);
      break;
    case QrStyle::none:
      return;
  }
  std::fwrite(text.data(), 1, text.size(), out);
  std::fflush(out);
}

}  // namespace twostep::enroll
