// opencode-cache-server: see --help and README.md ("Server").
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iostream>

#include "server/config/server_config.hpp"
#include "server/http/server.hpp"

namespace server = opencode_cache::server;

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
      std::cout << server::help_text();
      return 0;
    }
    std::cerr << "opencode-cache-server: unknown argument '" << argv[i] << "' (see --help)\n";
    return 2;
  }
  server::ServerConfig config;
  try {
    config = server::ServerConfig::from_env();
  } catch (const std::exception& e) {
    std::cerr << "opencode-cache-server: configuration error: " << e.what() << "\n";
    return 2;
  }
  try {
    // Signals are taken by this thread only: block them before the workers start.
    boost::asio::io_context signals_io;
    boost::asio::signal_set signals(signals_io, SIGTERM, SIGINT);
    server::http::Server gateway(config);
    gateway.start();
    std::fprintf(stderr,
                 "{\"level\":\"info\",\"msg\":\"listening\",\"address\":\"%s:%u\",\"threads\":%u,"
                 "\"upstream\":\"%s\"}\n",
                 config.listen_host.c_str(), gateway.port(), config.threads,
                 config.default_provider.base.origin().c_str());
    signals.async_wait([&](const boost::system::error_code& ec, int signal) {
      if (ec) return;
      std::fprintf(stderr, "{\"level\":\"info\",\"msg\":\"draining\",\"signal\":%d}\n", signal);
      gateway.shutdown();
    });
    signals_io.run();
    if (!gateway.wait()) {
      std::fprintf(stderr, "{\"level\":\"warn\",\"msg\":\"drain deadline passed\"}\n");
      std::fflush(stderr);
      _exit(0);
    }
    std::fprintf(stderr, "{\"level\":\"info\",\"msg\":\"stopped\"}\n");
  } catch (const std::exception& e) {
    std::cerr << "opencode-cache-server: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
