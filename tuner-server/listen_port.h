// The port part of a --listen / --metrics-listen value, shared by the gRPC listener and the
// metrics endpoint so both flags accept and refuse the same text.
#ifndef TUNER_TUNER_SERVER_LISTEN_PORT_H_
#define TUNER_TUNER_SERVER_LISTEN_PORT_H_

#include <exception>
#include <string>

namespace tuner::server {

// The port `text` names, in [0, 65535]; -1 when it is not a whole decimal number in range.
inline int ParseListenPort(const std::string& text) {
  try {
    size_t used = 0;
    const int port = std::stoi(text, &used);
    if (used != text.size() || port < 0 || port > 65535) return -1;
    return port;
  } catch (const std::exception&) {
    return -1;
  }
}

}  // namespace tuner::server

#endif  // TUNER_TUNER_SERVER_LISTEN_PORT_H_
