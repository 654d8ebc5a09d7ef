// node_server.h - the Node capability we serve on each accepted connection.
#pragma once

#include <string>

#include "wire/node.capnp.h"

namespace vdvk::nodes {

class LinkLoop;

// `address` names the connection's other end in log lines.
kj::Own<wire::Node::Server> MakeNodeServer(LinkLoop& loop, std::string address);

}  // namespace vdvk::nodes
