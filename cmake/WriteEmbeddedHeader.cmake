# cmake -DINPUT=file -DOUTPUT=header -DNAME=identifier -P WriteEmbeddedHeader.cmake
file(READ ${INPUT} content)
string(FIND "${content}" ")embedded\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw string delimiter )embedded\"")
endif()
file(WRITE ${OUTPUT}
  "// Generated from ${INPUT}; edit that file instead.\n"
  "#pragma once\n#include <string_view>\n\n"
  "namespace opencode_cache::embedded {\n"
  "inline constexpr std::string_view ${NAME}_source = R\"embedded(${content})embedded\";\n"
  "}  // namespace opencode_cache::embedded\n")
