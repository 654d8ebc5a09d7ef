// host_transport.cc - libdvk's transport for host processes: the per-process
// ring Client (client.h).
#include "libdvk/transport.h"

namespace vdvk::client {

long TransportOpen() { return Client::Get().Open(); }
long TransportClose() { return Client::Get().Close(); }
long TransportCall(Request& r) { return Client::Get().Call(r); }
std::string TransportLastDetail() { return Client::Get().LastDetail(); }

}  // namespace vdvk::client
