// dc_views.cc - DC membership across nodes. Membership stays each node's own
// (dvk_dc_init / dvk_add_node / dvk_del_node on every node, as in DVS); the
// links carry each node's view (Node.dcViews) so that a disagreement which
// makes calls between two nodes fail is said in a log line on both, once,
// and once more when it is gone.
#include <spdlog/spdlog.h>

#include "dvk/dvk.h"
#include "host-backend/rings/backend.h"

namespace vdvk::rings {

void Backend::DcChanged(int32_t dcid, bool running, uint64_t nodes) {
  if (link_out_ != nullptr) {
    const std::vector<nodes::DcView> views{nodes::DcView{dcid, running, nodes}};
    for (int32_t n = 0; n < NR_NODES; ++n)
      if (n != cfg_.node_id && engine_->NodeUp(n)) link_out_->SendDcViews(n, views);
  }
  // Our side changed: what the peers said may agree now, or not any more.
  for (int32_t n = 0; n < NR_NODES; ++n) CheckDcAgreement(n, dcid);
}

void Backend::SendDcViewsTo(int32_t node) {
  if (link_out_ == nullptr) return;
  std::vector<nodes::DcView> views;
  for (int32_t d = 0; d < NR_DCS; ++d) {
    uint64_t members = 0;
    if (engine_->DcMembership(d, &members)) views.push_back(nodes::DcView{d, true, members});
  }
  link_out_->SendDcViews(node, views);
}

void Backend::DcViewsArrived(int32_t node, const std::vector<nodes::DcView>& views) {
  for (const nodes::DcView& v : views) {
    peer_dc_views_[{node, v.dcid}] = v;
    CheckDcAgreement(node, v.dcid);
  }
}

void Backend::CheckDcAgreement(int32_t node, int32_t dcid) {
  auto it = peer_dc_views_.find({node, dcid});
  if (it == peer_dc_views_.end()) return;
  const nodes::DcView& theirs = it->second;
  uint64_t ours = 0;
  const bool running = engine_->DcMembership(dcid, &ours);
  const uint64_t me = uint64_t{1} << cfg_.node_id, them = uint64_t{1} << node;
  const bool they_list_us = theirs.running && (theirs.nodes & me) != 0;
  const bool we_list_them = running && (ours & them) != 0;
  std::string problem;
  if (they_list_us && !running) {
    problem = fmt::format("node {} runs DC {} with this node as a member (its nodes {:#x}), but DC {} "
                          "does not run here",
                          node, dcid, theirs.nodes, dcid);
  } else if (they_list_us != we_list_them) {
    problem = fmt::format("node {} {} this node in DC {} (its nodes {:#x}) but DC {} here (nodes "
                          "{:#x}) {} node {}",
                          node, they_list_us ? "lists" : "does not list", dcid,
                          theirs.running ? theirs.nodes : 0, dcid, ours,
                          we_list_them ? "lists" : "does not list", node);
  }
  std::string& last = dc_disagreement_[{node, dcid}];
  if (problem == last) return;
  if (problem.empty())
    spdlog::info("DC membership: node {} and this node agree on DC {} now", node, dcid);
  else
    spdlog::warn("DC membership: {}: calls between the two nodes in DC {} fail until both agree "
                 "(dvk_add_node / dvk_del_node on each node)",
                 problem, dcid);
  last = problem;
}

}  // namespace vdvk::rings
