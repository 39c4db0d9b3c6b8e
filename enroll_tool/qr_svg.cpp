// SVG: one path of unit squares (horizontal runs merged), crisp edges.
#include <string>

#include "qr.hpp"

namespace twostep::enroll {
namespace {

void append_number(SecretBytes& out, unsigned value) { out.append(std::to_string(value)); }

void append_row_runs(const QrMatrix& matrix, unsigned y, SecretBytes& out) {
  const unsigned width = matrix.width();
  unsigned x = 0;
  while (x < width) {
    if (!matrix.dark(x, y)) {
      ++x;
      continue;
    }
    unsigned run = 0;
    while (x + run < width && matrix.dark(x + run, y)) ++run;
    out.append("M");
    append_number(out, x + kQuietZone);
    out.append(" ");
    append_number(out, y + kQuietZone);
    out.append("h");
    append_number(out, run);
    out.append("v1h-");
    append_number(out, run);
    out.append("z");
    x += run;
  }
}

}  // namespace

SecretBytes render_svg(const QrMatrix& matrix) {
  const unsigned side = matrix.width() + 2 * kQuietZone;
  const std::string size = std::to_string(side);
  const std::string pixels = std::to_string(side * kPngPixelsPerModule);
  SecretBytes out = SecretBytes::from_string(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" viewBox=\"0 0 ");
  out.append(size + " " + size + "\" width=\"" + pixels + "\" height=\"" + pixels +
             "\" shape-rendering=\"crispEdges\">\n");
  out.append("<rect width=\"" + size + "\" height=\"" + size + "\" fill=\"#ffffff\"/>\n");
  out.append("<path fill=\"#000000\" d=\"");
  for (unsigned y = 0; y < matrix.width(); ++y) append_row_runs(matrix, y, out);
  out.append("\"/>\n</svg>\n");
  return out;
}

}  // namespace twostep::enroll
