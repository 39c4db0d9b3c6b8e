#include <qrencode.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include "qr.hpp"

namespace twostep::enroll {
namespace {

struct QrcodeDeleter {
  void operator()(QRcode* code) const noexcept {
    if (code == nullptr) return;
    const auto width = static_cast<std::size_t>(code->width);
    wipe(code->data, width * width);
    QRcode_free(code);
  }
};
using QrcodePtr = std::unique_ptr<QRcode, QrcodeDeleter>;

// libqrencode wants a NUL-terminated string; the copy is wiped on return.
SecretBytes nul_terminated(const SecretBytes& text) {
  SecretBytes copy = text.clone();
  copy.append(static_cast<std::uint8_t>(0));
  return copy;
}

}  // namespace

bool QrMatrix::dark_with_quiet_zone(int x, int y, unsigned quiet) const noexcept {
  const int inner_x = x - static_cast<int>(quiet);
  const int inner_y = y - static_cast<int>(quiet);
  const int width = static_cast<int>(width_);
  if (inner_x < 0 || inner_y < 0 || inner_x >= width || inner_y >= width) return false;
  return dark(static_cast<unsigned>(inner_x), static_cast<unsigned>(inner_y));
}

Result<QrMatrix> encode_qr(const SecretBytes& text) {
  const SecretBytes input = nul_terminated(text);
  errno = 0;
  QrcodePtr code(QRcode_encodeString(reinterpret_cast<const char*>(input.data()), 0, QR_ECLEVEL_L,
                                     QR_MODE_8, 1));
  if (!code) {
    return make_error(ErrorCode::invalid_argument,
                      std::string("cannot encode the QR code: ") + std::strerror(errno));
  }
  const auto width = static_cast<unsigned>(code->width);
  SecretBytes modules(static_cast<std::size_t>(width) * width);
  for (std::size_t i = 0; i < modules.size(); ++i) {
    modules.data()[i] = static_cast<std::uint8_t>(code->data[i] & 1u);  // bit 0: dark
  }
  return QrMatrix(width, std::move(modules));
}

}  // namespace twostep::enroll
