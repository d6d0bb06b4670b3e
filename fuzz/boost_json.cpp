// Boost.JSON compiled from its sources, once, instrumented like the code under test: the
// fuzz build links no prebuilt Boost library.
#include <boost/json/src.hpp>
