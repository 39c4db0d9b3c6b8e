// QR codes: one module matrix (libqrencode), several renderers.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "options.hpp"
#include "twostep/result.hpp"
#include "twostep/secret.hpp"

namespace twostep::enroll {

// The modules of a QR symbol, without quiet zone. Holds a picture of the
// secret: wiped on destruction like any other secret buffer.
class QrMatrix {
 public:
  QrMatrix(unsigned width, SecretBytes modules) : width_(width), modules_(std::move(modules)) {}
  unsigned width() const noexcept { return width_; }
  bool dark(unsigned x, unsigned y) const noexcept {
    return modules_.data()[static_cast<std::size_t>(y) * width_ + x] != 0;
  }
  // With a quiet zone of `quiet` light modules around the symbol; coordinates
  // outside the symbol are light.
  bool dark_with_quiet_zone(int x, int y, unsigned quiet) const noexcept;

 private:
  unsigned width_;
  SecretBytes modules_;  // one byte per module, 1 = dark
};

// Error correction L: a default enrollment URI (~80 bytes) gives a version 5
// symbol of 37 modules, which fits an 80x24 terminal in utf8 mode with the
// standard 4-module quiet zone (45 modules = 23 text rows).
Result<QrMatrix> encode_qr(const SecretBytes& text);

inline constexpr unsigned kQuietZone = 4;
inline constexpr unsigned kQuietZoneCompact = 2;

// Terminal rendering. utf8: half blocks, two modules per character cell
// vertically; ansi: background colours, two spaces per module; ascii: "##"
// for dark modules, for printing. Dark modules are always drawn black on an
// explicitly white quiet zone so dark terminal themes scan too.
struct TerminalQrSize {
  unsigned columns = 0;
  unsigned rows = 0;
};
TerminalQrSize terminal_qr_size(const QrMatrix& matrix, QrStyle style, unsigned quiet);
void render_terminal_qr(const QrMatrix& matrix, QrStyle style, unsigned quiet, std::FILE* out);

// Image encodings; the returned buffers hold the secret.
inline constexpr unsigned kPngPixelsPerModule = 8;
Result<SecretBytes> render_png(const QrMatrix& matrix);
SecretBytes render_svg(const QrMatrix& matrix);

}  // namespace twostep::enroll
