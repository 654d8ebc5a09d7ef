// transport.h - the seam between the C API (dvk_api.cc) and how a call
// reaches host-backend. Two implementations, one per library:
//   host_transport.cc   libdvk        the shared-memory ring of a host process
//   guest_transport.cc  libdvk_guest  /dev/vdvk inside a UML guest
// dvk_api.cc builds the SQE; the transport runs it to its final completion.
#pragma once

#include <string>

#include "libdvk/client.h"

namespace vdvk::client {

long TransportOpen();
long TransportClose();
long TransportCall(Request& r);
std::string TransportLastDetail();

}  // namespace vdvk::client
