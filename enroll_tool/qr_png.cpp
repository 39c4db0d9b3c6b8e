// PNG through libpng's simplified API (no setjmp/longjmp across C++ frames).
#include <png.h>

#include <cstring>
#include <memory>
#include <string>

#include "qr.hpp"

namespace twostep::enroll {
namespace {

struct PngImageFreer {
  void operator()(png_image* image) const noexcept { png_image_free(image); }
};

// 8-bit greyscale pixels, quiet zone included: 0 = dark, 255 = light.
SecretBytes grey_pixels(const QrMatrix& matrix, unsigned side_modules) {
  const unsigned side = side_modules * kPngPixelsPerModule;
  SecretBytes pixels(static_cast<std::size_t>(side) * side);
  for (unsigned py = 0; py < side; ++py) {
    for (unsigned px = 0; px < side; ++px) {
      const bool dark = matrix.dark_with_quiet_zone(static_cast<int>(px / kPngPixelsPerModule),
                                                    static_cast<int>(py / kPngPixelsPerModule),
                                                    kQuietZone);
      pixels.data()[static_cast<std::size_t>(py) * side + px] = dark ? 0 : 255;
    }
  }
  return pixels;
}

}  // namespace

Result<SecretBytes> render_png(const QrMatrix& matrix) {
  const unsigned side_modules = matrix.width() + 2 * kQuietZone;
  const unsigned side = side_modules * kPngPixelsPerModule;
  const SecretBytes pixels = grey_pixels(matrix, side_modules);

  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  image.width = side;
  image.height = side;
  image.format = PNG_FORMAT_GRAY;
  const std::unique_ptr<png_image, PngImageFreer> guard(&image);

  png_alloc_size_t size = 0;
  if (png_image_write_to_memory(&image, nullptr, &size, 0, pixels.data(), 0, nullptr) == 0) {
    return make_error(ErrorCode::io, std::string("PNG encoding failed: ") + image.message);
  }
  SecretBytes png(size);
  if (png_image_write_to_memory(&image, png.data(), &size, 0, pixels.data(), 0, nullptr) == 0) {
    return make_error(ErrorCode::io, std::string("PNG encoding failed: ") + image.message);
  }
  SecretBytes exact(png.data(), size);
  return exact;
}

}  // namespace twostep::enroll
