# Embeds text files (Lua scripts) into C++ at build time: each file becomes a generated header
# <generated>/opencode_cache/embedded/<name>.hpp declaring
#   inline constexpr std::string_view <name>_source
# so that scripts live as .lua files in the repo and ship inside the binary.
function(opencode_cache_embed_text target)
  set(generated_dir ${CMAKE_BINARY_DIR}/generated)
  foreach(file ${ARGN})
    get_filename_component(absolute ${file} ABSOLUTE)
    get_filename_component(name ${file} NAME_WE)
    set(header ${generated_dir}/opencode_cache/embedded/${name}.hpp)
    add_custom_command(
      OUTPUT ${header}
      COMMAND ${CMAKE_COMMAND} -DINPUT=${absolute} -DOUTPUT=${header} -DNAME=${name}
              -P ${PROJECT_SOURCE_DIR}/cmake/WriteEmbeddedHeader.cmake
      DEPENDS ${absolute} ${PROJECT_SOURCE_DIR}/cmake/WriteEmbeddedHeader.cmake
      COMMENT "Embedding ${file}")
    target_sources(${target} PRIVATE ${header})
  endforeach()
  target_include_directories(${target} PRIVATE ${generated_dir})
endfunction()
