#include "opencode_cache/valkey/resp_value.hpp"

namespace opencode_cache::valkey::resp {

std::string_view to_string(Type type) noexcept {
  switch (type) {
    case Type::simple_string: return "simple string";
    case Type::simple_error: return "simple error";
    case Type::integer: return "integer";
    case Type::bulk_string: return "bulk string";
    case Type::array: return "array";
    case Type::null: return "null";
    case Type::boolean: return "boolean";
    case Type::double_number: return "double";
    case Type::big_number: return "big number";
    case Type::verbatim_string: return "verbatim string";
    case Type::map: return "map";
    case Type::set: return "set";
    case Type::push: return "push";
    case Type::attribute: return "attribute";
    case Type::blob_error: return "blob error";
  }
  return "unknown";
}

bool is_aggregate(Type type) noexcept {
  return type == Type::array || type == Type::map || type == Type::set || type == Type::push ||
         type == Type::attribute;
}

namespace {

void render(const Value& value, std::string& out) {
  switch (value.type) {
    case Type::simple_string:
    case Type::bulk_string:
    case Type::verbatim_string:
      out += '"';
      out += value.string;
      out += '"';
      return;
    case Type::simple_error:
    case Type::blob_error:
      out += "(error) ";
      out += value.string;
      return;
    case Type::integer: out += std::to_string(value.integer); return;
    case Type::null: out += "(nil)"; return;
    case Type::boolean: out += value.integer != 0 ? "true" : "false"; return;
    case Type::double_number:
    case Type::big_number: out += value.string; return;
    default: break;
  }
  const bool pairs = value.type == Type::map || value.type == Type::attribute;
  out += pairs ? '{' : '[';
  for (std::size_t i = 0; i < value.elements.size(); ++i) {
    if (i > 0) out += (pairs && i % 2 == 1) ? ": " : ", ";
    render(value.elements[i], out);
  }
  out += pairs ? '}' : ']';
}

}  // namespace

std::string to_debug_string(const Value& value) {
  std::string out;
  render(value, out);
  return out;
}

}  // namespace opencode_cache::valkey::resp
