#include "reference_json.hpp"

#include <nlohmann/json.hpp>

namespace sluice_fuzz {

reference_json parse_reference_json(std::string_view in) {
  reference_json r;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::out_of_range&) {
    r.what = reference_json::kind::out_of_range;
    return r;
  } catch (const nlohmann::json::parse_error& e) {
    r.text = e.what();
    return r;
  }
  if (j.is_null()) {
    r.what = reference_json::kind::null;
  } else if (j.is_boolean()) {
    r.what = reference_json::kind::boolean;
    r.truth = j.get<bool>();
  } else if (j.is_number()) {
    r.what = reference_json::kind::number;
  } else if (j.is_string()) {
    r.what = reference_json::kind::string;
    r.text = j.get<std::string>();
  } else if (j.is_object()) {
    r.what = reference_json::kind::object;
  } else if (j.is_array()) {
    r.what = reference_json::kind::array;
  }
  return r;
}

}  // namespace sluice_fuzz
