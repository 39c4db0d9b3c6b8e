// PAM login benchmark: pam_start → pam_authenticate → pam_end through the
// real libpam, side by side for several services (variants). Each repetition
// logs every user in once per variant; a user's logins through all variants
// run back to back (order rotating), and a variant's extra cost is the median
// of its per-user paired differences to the baseline variant, which keeps a
// noisy shared machine's load swings out of the comparison.
//
// --fresh-process: every login runs in a forked child of a process that has
// never loaded a module (one login per process, like sudo and su). Without
// it, all logins run in this process (a long-running PAM client), where
// NODELETE libraries such as libcrypto and libstdc++ stay loaded after the
// first login.
//
// Input: a manifest, one login per line, tab-separated:
//   variant  service  user  first-step  codes  secret-file|-
// `codes` are the comma-separated TOTP codes for first-step, first-step+1, ...
// (computed beforehand by oathtool in run.sh; "-" for modules that do not
// ask). Before every timed pass of a variant, each listed secret file is
// restored to the content it had at start-up, so replay protection and rate
// limits start fresh without waiting for new 30 s steps (not timed).
//
// The process deliberately links neither OpenSSL nor a shared libstdc++
// (static libstdc++, see CMakeLists.txt): real PAM applications like sudo and
// su do not have them mapped, so a module that needs them must pay for loading
// them at every pam_start, as it does in production. --preload LIB maps a
// library first, e.g. libcrypto to mimic sshd, which links it.
//
// Output: per-variant summary on stdout; raw per-login timings (CSV) to --raw.
// Codes are never printed.

#include <fcntl.h>
#include <security/pam_appl.h>
#include <sys/stat.h>
#include <dlfcn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

std::int64_t current_step() {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return std::chrono::duration_cast<std::chrono::seconds>(now).count() / 30;
}

// ---------------------------------------------------------------- manifest

struct Login {
  std::string user;
  std::int64_t first_step = 0;
  std::vector<std::string> codes;  // empty: module does not ask (pam_permit)
  std::string secret_file;        // empty: nothing to restore
  std::string pristine;           // file content at start-up
  uid_t owner = 0;
  gid_t group = 0;
};

struct Variant {
  std::string name;
  std::string service;
  std::vector<Login> logins;
  std::vector<double> pass_medians_us;
  std::vector<double> pass_p90s_us;
  std::vector<double> pass_extra_us;  // median paired difference to the baseline
  std::vector<double> pass_over_anchor_us;  // median paired difference to the anchor
  std::size_t failures = 0;
  bool libcurl_seen = false;
  bool maps_checked = false;
};

std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> fields;
  std::stringstream stream(line);
  std::string field;
  while (std::getline(stream, field, '\t')) fields.push_back(field);
  return fields;
}

bool parse_step(std::string_view text, std::int64_t& step) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), step);
  return error == std::errc{} && end == text.data() + text.size() && step >= 0;
}

bool parse_codes(const std::string& text, std::vector<std::string>& codes) {
  if (text == "-") return true;
  std::stringstream stream(text);
  std::string code;
  while (std::getline(stream, code, ',')) {
    const bool digits = std::all_of(code.begin(), code.end(),
                                    [](char c) { return c >= '0' && c <= '9'; });
    if (code.size() < 6 || code.size() > 8 || !digits || codes.size() >= 10000) return false;
    codes.push_back(code);
  }
  return !codes.empty();
}

bool load_pristine(Login& login) {
  std::ifstream in(login.secret_file, std::ios::binary);
  if (!in) return false;
  std::ostringstream content;
  content << in.rdbuf();
  login.pristine = content.str();
  struct stat info {};
  if (::stat(login.secret_file.c_str(), &info) != 0) return false;
  login.owner = info.st_uid;
  login.group = info.st_gid;
  return true;
}

std::optional<std::vector<Variant>> read_manifest(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    std::cerr << "cannot open manifest " << path << "\n";
    return std::nullopt;
  }
  std::vector<Variant> variants;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto fields = split_tabs(line);
    if (fields.size() != 6) {
      std::cerr << "manifest line needs 6 tab-separated fields\n";
      return std::nullopt;
    }
    auto found = std::find_if(variants.begin(), variants.end(),
                              [&](const Variant& v) { return v.name == fields[0]; });
    if (found == variants.end()) {
      variants.push_back(Variant{fields[0], fields[1], {}, {}, {}, {}, {}, 0, false, false});
      found = variants.end() - 1;
    }
    Login login;
    login.user = fields[2];
    if (!parse_step(fields[3], login.first_step) || !parse_codes(fields[4], login.codes)) {
      std::cerr << "bad step or code list in the manifest\n";
      return std::nullopt;
    }
    if (fields[5] != "-") {
      login.secret_file = fields[5];
      if (!load_pristine(login)) {
        std::cerr << "cannot read secret file " << login.secret_file << "\n";
        return std::nullopt;
      }
    }
    found->logins.push_back(std::move(login));
  }
  return variants;
}

bool restore_file(const Login& login) {
  if (login.secret_file.empty()) return true;
  const int fd = ::open(login.secret_file.c_str(),
                        O_WRONLY | O_CREAT | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  // Only ever a regular file: a manifest naming /dev/null or another device
  // once had the bench chown and chmod it.
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return false;
  }
  bool ok = ::ftruncate(fd, 0) == 0 && ::fchown(fd, login.owner, login.group) == 0 &&
            ::fchmod(fd, 0600) == 0;
  std::size_t written = 0;
  while (ok && written < login.pristine.size()) {
    const ssize_t n = ::write(fd, login.pristine.data() + written, login.pristine.size() - written);
    ok = n > 0;
    if (ok) written += static_cast<std::size_t>(n);
  }
  return ::close(fd) == 0 && ok;
}

// ---------------------------------------------------------------- PAM

struct ChildReport {
  double us;
  int ok;
  int maps_checked;
  int libcurl_seen;
};

struct ConversationData {
  const std::string* code = nullptr;
  bool check_maps = false;
  bool libcurl_seen = false;
  bool maps_checked = false;
};

bool library_mapped(std::string_view name) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    if (line.find(name) != std::string::npos) return true;
  }
  return false;
}

// Called by the module while it is loaded and inside pam_authenticate.
extern "C" int bench_conversation(int count, const struct pam_message** messages,
                                  struct pam_response** responses, void* data_ptr) {
  if (count <= 0 || count > PAM_MAX_NUM_MSG) return PAM_CONV_ERR;
  auto* data = static_cast<ConversationData*>(data_ptr);
  if (data->check_maps && !data->maps_checked) {
    data->maps_checked = true;
    data->libcurl_seen = library_mapped("libcurl");
  }
  // Ownership of the array and strings passes to libpam, which frees them.
  auto* replies = static_cast<struct pam_response*>(
      std::calloc(static_cast<std::size_t>(count), sizeof(struct pam_response)));
  if (replies == nullptr) return PAM_BUF_ERR;
  for (int i = 0; i < count; ++i) {
    const int style = messages[i]->msg_style;
    if (style == PAM_PROMPT_ECHO_OFF || style == PAM_PROMPT_ECHO_ON) {
      replies[i].resp = ::strdup(data->code->c_str());
    }
  }
  *responses = replies;
  return PAM_SUCCESS;
}

// One login; returns its wall time in microseconds and whether it succeeded.
std::pair<double, bool> timed_login(const Variant& variant, const Login& login,
                                    ConversationData& data) {
  const pam_conv conversation{bench_conversation, &data};
  const auto start = std::chrono::steady_clock::now();
  pam_handle_t* handle = nullptr;
  int rc = pam_start(variant.service.c_str(), login.user.c_str(), &conversation, &handle);
  if (rc == PAM_SUCCESS) rc = pam_authenticate(handle, PAM_SILENT);
  const int end_rc = pam_end(handle, rc);
  const auto stop = std::chrono::steady_clock::now();
  const double us = std::chrono::duration<double, std::micro>(stop - start).count();
  return {us, rc == PAM_SUCCESS && end_rc == PAM_SUCCESS};
}

double percentile(std::vector<double> values, double fraction) {
  if (values.empty()) return 0.0;
  std::sort(values.begin(), values.end());
  const auto last = static_cast<double>(values.size() - 1);
  const auto index = static_cast<std::size_t>(fraction * last + 0.5);
  return values[std::min(index, values.size() - 1)];
}

double median(const std::vector<double>& values) { return percentile(values, 0.5); }

// Runs one login in a forked child, so the login starts from this process's
// pristine loader state (like sudo or su: one login per process; libraries
// marked NODELETE — libcrypto, libstdc++ — are not kept from earlier logins).
// The child times itself; fork and exit are not in the figure.
std::pair<double, bool> timed_login_in_child(const Variant& variant, const Login& login,
                                             ConversationData& data) {
  std::array<int, 2> fds{};
  if (::pipe(fds.data()) != 0) return {0.0, false};
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    const auto [us, ok] = timed_login(variant, login, data);
    const ChildReport report{us, ok ? 1 : 0, data.maps_checked ? 1 : 0,
                             data.libcurl_seen ? 1 : 0};
    const bool sent = ::write(fds[1], &report, sizeof report) ==
                      static_cast<ssize_t>(sizeof report);
    ::_exit(sent ? 0 : 1);
  }
  ::close(fds[1]);
  ChildReport report{};
  const bool received = pid > 0 && ::read(fds[0], &report, sizeof report) ==
                                       static_cast<ssize_t>(sizeof report);
  ::close(fds[0]);
  int status = 0;
  if (pid > 0) ::waitpid(pid, &status, 0);
  if (!received) return {0.0, false};
  data.maps_checked = report.maps_checked != 0;
  data.libcurl_seen = report.libcurl_seen != 0;
  return {report.us, report.ok != 0};
}

// The code for the current step, or nullopt when the precomputed list does
// not cover it.
std::optional<std::string> code_for_now(const Login& login, std::int64_t step) {
  if (login.codes.empty()) return std::string("000000");
  const std::int64_t index = step - login.first_step;
  if (index < 0 || index >= static_cast<std::int64_t>(login.codes.size())) return std::nullopt;
  return login.codes[static_cast<std::size_t>(index)];
}

// One repetition. Logins are interleaved per user: user i logs in through
// every variant back to back (order rotating with i and rep), so all
// variants see the same machine load within milliseconds, and the extra cost
// of a variant is taken per user as a paired difference to the baseline.
bool run_rep(std::vector<Variant>& variants, std::size_t baseline,
             std::optional<std::size_t> anchor, std::size_t rep, std::ofstream* raw, bool record,
             bool fresh_process, bool settle) {
  const std::size_t count = variants.size();
  const std::size_t users = variants[0].logins.size();
  for (const Variant& variant : variants) {
    if (variant.logins.size() != users) {
      std::cerr << "every variant needs the same number of logins\n";
      return false;
    }
    for (const Login& login : variant.logins) {
      if (!restore_file(login)) {
        std::cerr << "cannot restore " << login.secret_file << "\n";
        return false;
      }
    }
  }
  // Flush the restored files (untimed): otherwise the first fsync of the pass
  // makes the file system commit every file rewritten here, and that cost
  // lands on whichever module happens to sync first.
  ::sync();
  std::vector<std::vector<double>> times(count, std::vector<double>(users, 0.0));
  for (std::size_t i = 0; i < users; ++i) {
    const std::int64_t step = current_step();
    for (std::size_t k = 0; k < count; ++k) {
      // The order rotates with the user and the repetition, and runs
      // backwards in odd repetitions, so no variant always follows the same
      // one (and inherits what it left behind: journal, syslog queue).
      const std::size_t slot = (k + i + rep) % count;
      const std::size_t index = rep % 2 == 1 ? count - 1 - slot : slot;
      Variant& variant = variants[index];
      const Login& login = variant.logins[i];
      const auto code = code_for_now(login, step);
      if (!code) {
        std::cerr << "precomputed codes do not cover the current step; rerun run.sh\n";
        return false;
      }
      ConversationData data;
      data.code = &*code;
      data.check_maps = (i == 0);
      // --settle: every login starts on a clean journal, so a module's fsyncs
      // pay for its own writes only, not for what earlier logins left dirty.
      if (settle) ::sync();
      const auto [us, ok] = fresh_process ? timed_login_in_child(variant, login, data)
                                          : timed_login(variant, login, data);
      if (data.maps_checked) {
        variant.maps_checked = true;
        variant.libcurl_seen = variant.libcurl_seen || data.libcurl_seen;
      }
      if (!record) continue;
      if (!ok) ++variant.failures;
      times[index][i] = us;
      if (raw != nullptr) {
        *raw << variant.name << ',' << rep << ',' << login.user << ',' << us << ','
             << (ok ? 1 : 0) << '\n';
      }
    }
  }
  if (!record) return true;
  for (std::size_t v = 0; v < count; ++v) {
    std::vector<double> extra(users);
    for (std::size_t i = 0; i < users; ++i) extra[i] = times[v][i] - times[baseline][i];
    variants[v].pass_medians_us.push_back(median(times[v]));
    variants[v].pass_p90s_us.push_back(percentile(times[v], 0.9));
    variants[v].pass_extra_us.push_back(median(extra));
    if (anchor) {
      for (std::size_t i = 0; i < users; ++i) extra[i] = times[v][i] - times[*anchor][i];
      variants[v].pass_over_anchor_us.push_back(median(extra));
    }
  }
  return true;
}

struct Options {
  std::string manifest;
  std::string raw;
  std::string baseline = "pam_permit";
  std::string reference = "pam_google_authenticator";
  std::string subject = "pam_twostep";
  std::string anchor;  // optional: subjects are also compared with this variant
  std::string single_service;  // --service/--user: one login in this process
  std::string single_user;
  std::size_t reps = 10;
  std::string preload;
  bool fresh_process = false;
  bool settle = false;  // sync() before every login, untimed
};

std::optional<std::size_t> parse_count(std::string_view text) {
  std::size_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size() || value == 0 || value > 10000) {
    return std::nullopt;
  }
  return value;
}

std::optional<Options> parse_options(int argc, char** argv) {
  Options options;
  int i = 1;
  for (; i < argc && std::string_view(argv[i]).starts_with("--") &&
         (std::string_view(argv[i]) == "--fresh-process" || std::string_view(argv[i]) == "--settle");
       ++i) {
    if (std::string_view(argv[i]) == "--fresh-process") options.fresh_process = true;
    if (std::string_view(argv[i]) == "--settle") options.settle = true;
  }
  for (; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--manifest") {
      options.manifest = value;
    } else if (flag == "--raw") {
      options.raw = value;
    } else if (flag == "--baseline") {
      options.baseline = value;
    } else if (flag == "--reference") {
      options.reference = value;
    } else if (flag == "--subject") {
      options.subject = value;
    } else if (flag == "--anchor") {
      options.anchor = value;
    } else if (flag == "--service") {
      options.single_service = value;
    } else if (flag == "--user") {
      options.single_user = value;
    } else if (flag == "--preload") {
      options.preload = value;
    } else if (flag == "--reps") {
      const auto reps = parse_count(value);
      if (!reps) return std::nullopt;
      options.reps = *reps;
    } else {
      return std::nullopt;
    }
  }
  if (i != argc) return std::nullopt;
  const bool single = !options.single_service.empty() || !options.single_user.empty();
  if (single ? (options.single_service.empty() || options.single_user.empty())
             : options.manifest.empty()) {
    return std::nullopt;
  }
  return options;
}

const Variant* find_variant(const std::vector<Variant>& variants, const std::string& name) {
  for (const Variant& variant : variants) {
    if (variant.name == name) return &variant;
  }
  return nullptr;
}

void print_summary(const std::vector<Variant>& variants, const Options& options) {
  std::printf("%-28s %7s %11s %11s %13s %13s %9s %s\n", "variant", "logins", "median_us",
              "p90_us", "extra_med_us", "extra_min_us", "failures", "libcurl_mapped");
  for (const Variant& variant : variants) {
    const auto lowest = std::min_element(variant.pass_extra_us.begin(),
                                         variant.pass_extra_us.end());
    std::printf("%-28s %7zu %11.1f %11.1f %13.1f %13.1f %9zu %s\n", variant.name.c_str(),
                variant.logins.size() * variant.pass_medians_us.size(),
                median(variant.pass_medians_us), median(variant.pass_p90s_us),
                median(variant.pass_extra_us),
                lowest == variant.pass_extra_us.end() ? 0.0 : *lowest, variant.failures,
                variant.maps_checked ? (variant.libcurl_seen ? "YES" : "no") : "n/a");
  }
  const Variant* reference = find_variant(variants, options.reference);
  const Variant* anchor = options.anchor.empty() ? nullptr : find_variant(variants, options.anchor);
  for (const Variant& variant : variants) {
    if (variant.name.rfind(options.subject, 0) != 0) continue;
    if (reference != nullptr && median(reference->pass_extra_us) > 0) {
      // The spread: the same ratio taken within each repetition.
      std::vector<double> per_rep;
      for (std::size_t r = 0; r < variant.pass_extra_us.size(); ++r) {
        per_rep.push_back(variant.pass_extra_us[r] / reference->pass_extra_us[r]);
      }
      std::printf("ratio extra(%s)/extra(%s) = %.2f (per repetition %.2f..%.2f)\n",
                  variant.name.c_str(), reference->name.c_str(),
                  median(variant.pass_extra_us) / median(reference->pass_extra_us),
                  percentile(per_rep, 0.0), percentile(per_rep, 1.0));
    }
    if (anchor != nullptr) {
      std::printf("over %s: median paired difference %.1f us (per repetition %.1f..%.1f)\n",
                  anchor->name.c_str(), median(variant.pass_over_anchor_us),
                  percentile(variant.pass_over_anchor_us, 0.0),
                  percentile(variant.pass_over_anchor_us, 1.0));
    }
  }
}

// --service/--user: one login in this very process (no fork), the code read
// from stdin (never from the command line). For profilers: run it under
// `valgrind --tool=callgrind` once with the module's service and once with a
// pam_permit service; the difference is what one fresh-process login costs.
int single_login(const Options& options) {
  std::string code;
  if (!std::getline(std::cin, code)) code = "000000";
  Variant variant{"single", options.single_service, {}, {}, {}, {}, {}, 0, false, false};
  Login login;
  login.user = options.single_user;
  ConversationData data;
  data.code = &code;
  const auto [us, ok] = timed_login(variant, login, data);
  std::printf("login: %s, %.1f us\n", ok ? "ok" : "FAILED", us);
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const auto options = parse_options(argc, argv);
  if (!options) {
    std::cerr << "usage: twostep-pam-bench [--fresh-process] [--settle] --manifest FILE [--reps N]\n"
                 "       [--raw FILE.csv]\n"
                 "       [--preload LIB]\n"
                 "       [--baseline NAME] [--reference NAME] [--subject PREFIX] [--anchor NAME]\n"
                 "   or: twostep-pam-bench [--preload LIB] --service NAME --user NAME < code\n";
    return 2;
  }
  if (!options->preload.empty()) {
    // Deliberately never closed: stays mapped for the whole run, like a
    // library the application itself links.
    void* library = ::dlopen(options->preload.c_str(), RTLD_NOW | RTLD_GLOBAL);
    if (library == nullptr) {
      std::cerr << "cannot preload " << options->preload << "\n";
      return 2;
    }
    // sshd has initialised OpenSSL (configuration, providers, digests for
    // the key exchange) long before PAM runs in its connection process: do
    // the same, so a module is not charged for the application's init.
    using InitCrypto = int (*)(std::uint64_t, const void*);
    if (void* init = ::dlsym(library, "OPENSSL_init_crypto"); init != nullptr) {
      constexpr std::uint64_t kLoadConfig = 0x40, kAddAllCiphers = 0x04, kAddAllDigests = 0x08,
                              kLoadCryptoStrings = 0x02;
      reinterpret_cast<InitCrypto>(init)(
          kLoadConfig | kAddAllCiphers | kAddAllDigests | kLoadCryptoStrings, nullptr);
      // The key exchange hashes with EVP before any authentication: one
      // digest fetch builds the library context's name map and provider
      // method store, as sshd's own use of libcrypto has by then.
      using FetchDigest = void* (*)(void*, const char*, const char*);
      using FreeDigest = void (*)(void*);
      auto* fetch = reinterpret_cast<FetchDigest>(::dlsym(library, "EVP_MD_fetch"));
      auto* release = reinterpret_cast<FreeDigest>(::dlsym(library, "EVP_MD_free"));
      if (fetch != nullptr && release != nullptr) release(fetch(nullptr, "SHA256", nullptr));
      std::printf("preloaded library initialised like sshd's (OPENSSL_init_crypto, SHA256 fetch)\n");
    }
  }
  std::printf("mapped before the first pam_start: libstdc++ %s, libcrypto %s\n",
              library_mapped("libstdc++") ? "yes" : "no",
              library_mapped("libcrypto") ? "yes" : "no");
  if (!options->single_service.empty()) return single_login(*options);
  auto variants = read_manifest(options->manifest);
  if (!variants || variants->empty()) return 2;

  std::optional<std::ofstream> raw;
  if (!options->raw.empty()) {
    raw.emplace(options->raw);
    *raw << "variant,rep,user,us,ok\n";
  }
  const Variant* baseline = find_variant(*variants, options->baseline);
  if (baseline == nullptr) {
    std::cerr << "the manifest has no baseline variant " << options->baseline << "\n";
    return 2;
  }
  const auto baseline_index = static_cast<std::size_t>(baseline - variants->data());
  std::optional<std::size_t> anchor_index;
  if (const Variant* anchor = options->anchor.empty() ? nullptr
                                                     : find_variant(*variants, options->anchor)) {
    anchor_index = static_cast<std::size_t>(anchor - variants->data());
  }
  std::printf("mode: %s\n", options->fresh_process
                                 ? "fresh process per login (forked child)"
                                 : "one process, logins in a loop");
  // Warm-up repetition (page cache; in loop mode also NODELETE libraries).
  if (!run_rep(*variants, baseline_index, anchor_index, 0, nullptr, false, options->fresh_process,
               options->settle)) return 1;
  for (std::size_t rep = 1; rep <= options->reps; ++rep) {
    if (!run_rep(*variants, baseline_index, anchor_index, rep, raw ? &*raw : nullptr, true,
                 options->fresh_process, options->settle)) {
      return 1;
    }
    std::fprintf(stderr, "rep %zu/%zu done\n", rep, options->reps);
  }
  print_summary(*variants, *options);
  for (const Variant& variant : *variants) {
    if (variant.failures != 0) {
      std::fprintf(stderr, "%s: %zu logins failed\n", variant.name.c_str(), variant.failures);
      return 1;
    }
  }
  return 0;
}
