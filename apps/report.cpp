// Text, tables and charts of a result, shared by `relprop explain` and `relprop demo`
// (apps/app.hpp).

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <sstream>

#include <nlohmann/json.hpp>

#include "apps/app.hpp"

namespace relprop::app {

namespace fs = std::filesystem;

std::string fmt_fixed(double v, int digits) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(digits) << v;
  return os.str();
}

std::string describe(const Tensor& t) {
  const auto v = t.to_vector_f64();
  std::string s;
  if (v.size() <= 16) {
    s = "[";
    for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + fmt_fixed(v[i]);
    return s + "]";
  }
  double sum = 0, lo = v[0], hi = v[0];
  for (double x : v) {
    sum += x;
    lo = std::min(lo, x);
    hi = std::max(hi, x);
  }
  return "shape " + t.str_shape() + ", min " + fmt_fixed(lo) + ", max " + fmt_fixed(hi) + ", sum " + fmt_fixed(sum);
}

bool is_image_path(const fs::path& p) {
  std::string e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return e == ".png" || e == ".jpg" || e == ".jpeg" || e == ".bmp" || e == ".tga" || e == ".gif" || e == ".ppm" ||
         e == ".pgm";
}

std::vector<std::string> read_feature_names(const std::string& path) {
  const std::string text = read_regular_file(path, "feature names");
  std::vector<std::string> names;
  if (fs::path(path).extension() == ".json") {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(text);
    } catch (const std::exception& e) {
      throw FormatError("'" + path + "' is not JSON: " + std::string(e.what()));
    }
    const nlohmann::json& list = j.is_array() ? j : (j.contains("features") ? j["features"] : nlohmann::json());
    if (!list.is_array()) throw FormatError("'" + path + "': expected a list of names or an object with \"features\"");
    for (const auto& n : list) {
      if (!n.is_string()) throw FormatError("'" + path + "': feature names must be strings");
      names.push_back(n.get<std::string>());
    }
    return names;
  }
  std::stringstream lines(text);
  std::string line;
  const bool csv = fs::path(path).extension() == ".csv";
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (csv) {  // the header row
      std::stringstream fields(line);
      for (std::string f; std::getline(fields, f, ',');) names.push_back(f);
      break;
    }
    if (!line.empty()) names.push_back(line);
  }
  if (names.empty()) throw FormatError("'" + path + "' holds no feature names");
  return names;
}

namespace {
std::vector<double> row_values(const Tensor& t, const std::vector<std::string>& names, const char* what) {
  const auto v = t.to_vector_f64();
  if (v.size() != names.size())
    throw ShapeError(std::string(what) + " " + t.str_shape() + " has " + std::to_string(v.size()) + " values but " +
                     std::to_string(names.size()) + " feature names were given");
  return v;
}
std::string fmt_g(double v) {
  std::ostringstream os;
  os << std::setprecision(5) << v;
  return os.str();
}
}  // namespace

std::vector<viz::Bar> feature_bars(const std::vector<std::string>& names, const Tensor& relevance, const Tensor* values) {
  const auto r = row_values(relevance, names, "relevance");
  const auto x = values ? row_values(*values, names, "input") : std::vector<double>();
  std::vector<viz::Bar> bars;
  for (std::size_t i = 0; i < names.size(); ++i)
    bars.push_back({names[i], r[i], values ? "(= " + fmt_g(x[i]) + ")" : ""});
  return bars;
}

std::string feature_csv(const std::vector<std::string>& names, const Tensor& relevance, const Tensor* values) {
  const auto r = row_values(relevance, names, "relevance");
  const auto x = values ? row_values(*values, names, "input") : std::vector<double>();
  std::vector<std::size_t> order(names.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return std::abs(r[a]) > std::abs(r[b]); });
  std::vector<std::vector<std::string>> rows;
  for (std::size_t k = 0; k < order.size(); ++k) {
    const auto i = order[k];
    rows.push_back({std::to_string(k + 1), names[i], values ? fmt_g(x[i]) : "", fmt_g(r[i])});
  }
  return viz::csv({"rank", "feature", "value", "relevance"}, rows);
}

std::string layers_csv(const RelevanceMap& R) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& rep : R.report())
    rows.push_back({rep.name, rep.op, rep.rule, fmt_g(rep.relevance_out), fmt_g(rep.relevance_in),
                    fmt_g(100.0 * rep.absorbed_share())});
  return viz::csv({"node", "op", "rule", "relevance_out", "relevance_in", "absorbed_percent"}, rows);
}

viz::Image layers_chart(const RelevanceMap& R, const std::string& title) {
  std::vector<viz::Bar> bars;
  for (const auto& rep : R.report())
    bars.push_back({rep.name + " (" + rep.op + ")", rep.relevance_out,
                    "in " + fmt_g(rep.relevance_in) + ", absorbed " + fmt_fixed(100.0 * rep.absorbed_share(), 1) + "%"});
  viz::BarChartOptions o;
  o.title = title;
  o.sort_by_magnitude = false;
  o.bar_height = 18;
  return viz::bar_chart(bars, o);
}

}  // namespace relprop::app
