#include "report.hpp"

#include <cstdio>

namespace twostep::check {

void Report::section(std::string title) { std::printf("\n== %s\n", title.c_str()); }

void Report::add(Finding finding) {
  const char* tag = "ok     ";
  switch (finding.severity) {
    case Severity::ok: break;
    case Severity::note: tag = "note   "; break;
    case Severity::warning: tag = "WARNING"; ++warnings_; break;
    case Severity::problem: tag = "PROBLEM"; ++problems_; break;
  }
  std::printf("  %s %s\n", tag, finding.what.c_str());
  if (!finding.fix.empty()) std::printf("          fix: %s\n", finding.fix.c_str());
}

}  // namespace twostep::check
