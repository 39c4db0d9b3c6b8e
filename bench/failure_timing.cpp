// How long a failed pam_authenticate takes, case by case, measured the way an
// attacker would (docs/threat-model.md, "Unknown-user probing"): each sample
// in a fresh process (as sshd forks one per connection), the cases of one
// round back to back within the same wall-clock second (libpam's failure
// delay is a function of it), rounds repeated, medians and paired
// differences reported.
//
//   twostep-fail-timing [--rounds N] LABEL:SERVICE:USER:ANSWER ...
//
// Every prompt is answered with ANSWER at once. Prints one CSV line per
// sample (round,label,total_us,first_prompt_us,pam_result), then per case
// the median total and the median time to the first prompt, and per case
// after the first the median of its paired difference to the first and in
// how many rounds it was the slower one. Run as root with the module's
// service files in /etc/pam.d, or under pam_wrapper (PAM_WRAPPER=1,
// PAM_WRAPPER_SERVICE_DIR, LD_PRELOAD=libpam_wrapper.so).
#include <security/pam_appl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <optional>
#include <string>
#include <vector>

namespace {

struct Case {
  std::string label, service, user, answer;
};

struct Sample {
  long total_us = -1;
  long prompt_us = -1;  // -1: no prompt
  int result = -1;
};

using Clock = std::chrono::steady_clock;

struct ConversationState {
  const char* answer;
  Clock::time_point start;
  long first_prompt_us = -1;
};

long micros_since(Clock::time_point start) {
  return static_cast<long>(
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count());
}

int answer_all(int count, const pam_message** messages, pam_response** out, void* data) {
  auto* state = static_cast<ConversationState*>(data);
  if (state->first_prompt_us < 0) state->first_prompt_us = micros_since(state->start);
  auto* responses = static_cast<pam_response*>(calloc(static_cast<size_t>(count),
                                                       sizeof(pam_response)));
  if (responses == nullptr) return PAM_BUF_ERR;
  for (int i = 0; i < count; ++i) {
    const int style = messages[i]->msg_style;
    if (style == PAM_PROMPT_ECHO_OFF || style == PAM_PROMPT_ECHO_ON) {
      responses[i].resp = strdup(state->answer);
    }
  }
  *out = responses;
  return PAM_SUCCESS;
}

// One sample, in this (child) process.
Sample measure_here(const Case& c) {
  ConversationState state{c.answer.c_str(), {}, -1};
  const pam_conv conv{&answer_all, &state};
  pam_handle_t* pamh = nullptr;
  Sample sample;
  if (pam_start(c.service.c_str(), c.user.c_str(), &conv, &pamh) != PAM_SUCCESS) return sample;
  state.start = Clock::now();
  sample.result = pam_authenticate(pamh, 0);
  sample.total_us = micros_since(state.start);
  sample.prompt_us = state.first_prompt_us;
  pam_end(pamh, sample.result);
  return sample;
}

Sample measure_in_child(const Case& c) {
  int fds[2];
  if (pipe(fds) != 0) return {};
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    const Sample sample = measure_here(c);
    const ssize_t written = write(fds[1], &sample, sizeof sample);
    _exit(written == static_cast<ssize_t>(sizeof sample) ? 0 : 1);
  }
  close(fds[1]);
  Sample sample;
  if (pid < 0 || read(fds[0], &sample, sizeof sample) != static_cast<ssize_t>(sizeof sample)) {
    sample = {};
  }
  close(fds[0]);
  if (pid > 0) waitpid(pid, nullptr, 0);
  return sample;
}

std::optional<Case> parse_case(const std::string& text) {
  std::vector<std::string> parts;
  std::size_t from = 0;
  for (int i = 0; i < 3; ++i) {
    const std::size_t colon = text.find(':', from);
    if (colon == std::string::npos) return std::nullopt;
    parts.push_back(text.substr(from, colon - from));
    from = colon + 1;
  }
  parts.push_back(text.substr(from));
  return Case{parts[0], parts[1], parts[2], parts[3]};
}

long median(std::vector<long> values) {
  if (values.empty()) return -1;
  std::sort(values.begin(), values.end());
  const std::size_t mid = values.size() / 2;
  return values.size() % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

// One round: every case once, all started within one wall-clock second
// (retried otherwise), in an order that rotates from round to round.
std::vector<Sample> run_round(const std::vector<Case>& cases, std::size_t round) {
  for (;;) {
    const std::time_t second = std::time(nullptr);
    std::vector<Sample> samples(cases.size());
    for (std::size_t k = 0; k < cases.size(); ++k) {
      const std::size_t i = (k + round) % cases.size();
      samples[i] = measure_in_child(cases[i]);
    }
    if (std::time(nullptr) == second) return samples;
  }
}

void summarize(const std::vector<Case>& cases, const std::vector<std::vector<Sample>>& rounds) {
  for (std::size_t i = 0; i < cases.size(); ++i) {
    std::vector<long> totals, prompts, differences;
    std::size_t slower = 0;
    for (const auto& round : rounds) {
      totals.push_back(round[i].total_us);
      if (round[i].prompt_us >= 0) prompts.push_back(round[i].prompt_us);
      differences.push_back(round[i].total_us - round[0].total_us);
      if (round[i].total_us > round[0].total_us) ++slower;
    }
    std::printf("# %-16s median %7ld us, first prompt median %7ld us", cases[i].label.c_str(),
                median(totals), median(prompts));
    if (i != 0) {
      std::printf(", paired difference to %s median %+ld us, slower in %zu of %zu",
                  cases[0].label.c_str(), median(differences), slower, rounds.size());
    }
    std::printf("\n");
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t round_count = 20;
  std::vector<Case> cases;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--rounds" && i + 1 < argc) {
      round_count = std::strtoul(argv[++i], nullptr, 10);
    } else if (auto c = parse_case(arg)) {
      cases.push_back(*c);
    } else {
      std::fprintf(stderr, "usage: %s [--rounds N] LABEL:SERVICE:USER:ANSWER ...\n", argv[0]);
      return 2;
    }
  }
  if (cases.empty() || round_count == 0) {
    std::fprintf(stderr, "usage: %s [--rounds N] LABEL:SERVICE:USER:ANSWER ...\n", argv[0]);
    return 2;
  }
  std::vector<std::vector<Sample>> rounds;
  std::printf("round,label,total_us,first_prompt_us,pam_result\n");
  for (std::size_t r = 0; r < round_count; ++r) {
    rounds.push_back(run_round(cases, r));
    for (std::size_t i = 0; i < cases.size(); ++i) {
      const Sample& s = rounds.back()[i];
      std::printf("%zu,%s,%ld,%ld,%d\n", r, cases[i].label.c_str(), s.total_us, s.prompt_us,
                  s.result);
    }
  }
  summarize(cases, rounds);
  return 0;
}
