#include "relprop/tensor/json.hpp"

#include <set>
#include <vector>

#include "relprop/tensor/error.hpp"

namespace relprop {

namespace {

using json = nlohmann::json;

// Follows the parser's events to know where it is, and refuses a repeated key or nesting
// past the limit.
class Strict {
 public:
  Strict(const std::string& origin, int max_depth) : origin_(origin), max_depth_(max_depth) {}

  bool operator()(int depth, json::parse_event_t event, const json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (depth >= max_depth_)
          throw FormatError(origin_ + ": nests more than " + std::to_string(max_depth_) + " levels deep");
        element();
        frames_.push_back(Frame{event == json::parse_event_t::object_start, {}, {}, 0});
        break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        if (!frames_.empty()) frames_.pop_back();
        break;
      case json::parse_event_t::key: {
        if (frames_.empty()) break;
        Frame& f = frames_.back();
        std::string key = parsed.get<std::string>();
        if (!f.keys.insert(key).second)
          throw FormatError(origin_ + ": the key \"" + printable(key) + "\" appears twice in " + where() +
                            " (JSON objects must not repeat a key)");
        f.key = std::move(key);
        break;
      }
      case json::parse_event_t::value:
        element();
        break;
    }
    return true;
  }

 private:
  struct Frame {
    bool object;
    std::set<std::string> keys;  // object: the keys seen
    std::string key;             // object: the current member's key
    std::size_t count;           // array: the elements seen
  };

  // A value starts: in an array it is the next element.
  void element() {
    if (!frames_.empty() && !frames_.back().object) ++frames_.back().count;
  }

  // The path of the innermost object: keys and [indices] from the top.
  std::string where() const {
    std::string path;
    for (std::size_t i = 0; i + 1 < frames_.size(); ++i) {
      const Frame& f = frames_[i];
      if (f.object)
        path += (path.empty() ? "" : ".") + printable(f.key);
      else
        path += "[" + std::to_string(f.count - 1) + "]";
    }
    return path.empty() ? "the top-level object" : path;
  }

  // A key as it may be printed on one line: control characters as \xNN, at most 80 bytes.
  static std::string printable(const std::string& s) {
    std::string out;
    for (const char c : s.substr(0, 80)) {
      const auto u = static_cast<unsigned char>(c);
      if (u < 0x20 || u == 0x7f) {
        static const char* hex = "0123456789abcdef";
        out += "\\x";
        out += hex[u >> 4];
        out += hex[u & 15];
      } else {
        out += c;
      }
    }
    return s.size() > 80 ? out + "..." : out;
  }

  const std::string& origin_;
  int max_depth_;
  std::vector<Frame> frames_;
};

}  // namespace

json parse_json_strict(std::string_view text, const std::string& origin, int max_depth) {
  return json::parse(text, Strict(origin, max_depth));
}

}  // namespace relprop
