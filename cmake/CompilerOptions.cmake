# Warnings are errors on our own code; third-party headers come in as system includes.
function(opencode_cache_strict target)
  # Options structs have default member initializers and are meant for designated
  # initializers that name only what differs; g++ 12 would warn about every one of those.
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Werror -Wno-missing-field-initializers)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # g++ 12 at -O2 flags Asio's recycled coroutine frames as mismatched new/delete: a
    # false positive in its allocator, not in our code.
    target_compile_options(${target} PRIVATE -Wno-mismatched-new-delete)
  endif()
endfunction()

if(OPENCODE_CACHE_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=address,undefined)
endif()

if(OPENCODE_CACHE_FUZZ AND NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "OPENCODE_CACHE_FUZZ needs clang (libFuzzer): -DCMAKE_CXX_COMPILER=clang++-14")
endif()
