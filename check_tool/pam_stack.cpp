#include "pam_stack.hpp"

#include <fstream>
#include <map>
#include <sstream>

namespace twostep::check {
namespace {

Error stack_error(std::string message) {
  return make_error(ErrorCode::invalid_argument, std::move(message));
}

// Splits one logical line into words; "[...]" is one word (with "\]" as an
// escaped bracket), and for arguments the brackets are dropped, as libpam does.
std::vector<std::string> split_words(const std::string& line) {
  std::vector<std::string> words;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    if (i >= line.size()) break;
    std::string word;
    if (line[i] == '[') {
      ++i;
      while (i < line.size() && line[i] != ']') {
        if (line[i] == '\\' && i + 1 < line.size() && line[i + 1] == ']') ++i;
        word += line[i++];
      }
      if (i < line.size()) ++i;  // ']'
      word = "[" + word + "]";
    } else {
      while (i < line.size() && line[i] != ' ' && line[i] != '\t') word += line[i++];
    }
    words.push_back(std::move(word));
  }
  return words;
}

std::string unbracket(const std::string& word) {
  if (word.size() >= 2 && word.front() == '[' && word.back() == ']') {
    return word.substr(1, word.size() - 2);
  }
  return word;
}

struct Reader {
  std::string pam_dir;
  std::vector<PamLine> lines;
  std::vector<std::string> open_files;  // include chain, for loop detection

  Status read(const std::string& file, std::size_t substack);
};

std::string resolve(const std::string& pam_dir, const std::string& name) {
  return !name.empty() && name.front() == '/' ? name : pam_dir + "/" + name;
}

// Logical lines: comments stripped ('#' to end of line), "\" continuations joined.
Result<std::vector<std::pair<std::size_t, std::string>>> logical_lines(const std::string& path) {
  std::ifstream in(path);
  if (!in) return stack_error("cannot read " + path);
  std::vector<std::pair<std::size_t, std::string>> out;
  std::string physical, pending;
  std::size_t number = 0, start = 0, bytes = 0;
  while (std::getline(in, physical)) {
    ++number;
    bytes += physical.size() + 1;
    if (bytes > kMaxServiceFileBytes) return stack_error(path + ": larger than 256 KiB");
    if (pending.empty()) start = number;
    if (const auto hash = physical.find('#'); hash != std::string::npos) physical.resize(hash);
    if (!physical.empty() && physical.back() == '\\') {
      physical.pop_back();
      pending += physical + " ";
      continue;
    }
    pending += physical;
    out.emplace_back(start, std::move(pending));
    pending.clear();
  }
  if (!pending.empty()) out.emplace_back(start, std::move(pending));
  return out;
}

Status Reader::read(const std::string& file, std::size_t substack) {
  for (const auto& open : open_files) {
    if (open == file) return stack_error("include loop through " + file);
  }
  if (open_files.size() >= kMaxIncludeDepth) return stack_error("includes nested too deep at " + file);
  auto logical = logical_lines(file);
  if (!logical) return logical.error();
  open_files.push_back(file);
  for (const auto& [number, text] : *logical) {
    auto words = split_words(text);
    if (words.empty()) continue;
    const std::string origin = file + ":" + std::to_string(number);
    if (words[0] == "@include") {
      if (words.size() < 2) return stack_error(origin + ": @include without a file");
      if (auto status = read(resolve(pam_dir, words[1]), substack); !status) return status;
      continue;
    }
    std::string type = words[0];
    const bool dash = !type.empty() && type.front() == '-';
    if (dash) type.erase(0, 1);
    if (type != "auth") continue;
    if (words.size() < 3) return stack_error(origin + ": expected TYPE CONTROL MODULE");
    if (words[1] == "include" || words[1] == "substack") {
      const std::size_t depth = words[1] == "substack" ? substack + 1 : substack;
      if (auto status = read(resolve(pam_dir, words[2]), depth); !status) return status;
      continue;
    }
    if (lines.size() >= kMaxStackLines) return stack_error("more than 512 auth lines");
    PamLine line{origin, words[1], words[2], {}, dash, substack};
    for (std::size_t i = 3; i < words.size(); ++i) line.args.push_back(unbracket(words[i]));
    lines.push_back(std::move(line));
  }
  open_files.pop_back();
  return {};
}

}  // namespace

Result<std::vector<PamLine>> read_auth_stack(const std::string& pam_dir,
                                             const std::string& service) {
  Reader reader{pam_dir, {}, {}};
  if (auto status = reader.read(resolve(pam_dir, service), 0); !status) {
    return status.error();
  }
  return std::move(reader.lines);
}

std::string module_basename(const std::string& module) {
  const auto slash = module.rfind('/');
  return slash == std::string::npos ? module : module.substr(slash + 1);
}

std::string control_action(const std::string& control, const std::string& code) {
  static const std::map<std::string, std::map<std::string, std::string>> simple{
      {"required", {{"success", "ok"}, {"ignore", "ignore"}, {"default", "bad"}}},
      {"requisite", {{"success", "ok"}, {"ignore", "ignore"}, {"default", "die"}}},
      {"sufficient", {{"success", "done"}, {"ignore", "ignore"}, {"default", "ignore"}}},
      {"optional", {{"success", "ok"}, {"ignore", "ignore"}, {"default", "ignore"}}},
  };
  if (const auto it = simple.find(control); it != simple.end()) {
    const auto& table = it->second;
    const auto found = table.find(code);
    return found != table.end() ? found->second : table.at("default");
  }
  // [value=action value=action ...]
  std::map<std::string, std::string> actions;
  std::istringstream words(unbracket(control));
  std::string pair;
  while (words >> pair) {
    const auto eq = pair.find('=');
    if (eq != std::string::npos) actions[pair.substr(0, eq)] = pair.substr(eq + 1);
  }
  if (const auto it = actions.find(code); it != actions.end()) return it->second;
  if (const auto it = actions.find("default"); it != actions.end()) return it->second;
  return "bad";
}

}  // namespace twostep::check
