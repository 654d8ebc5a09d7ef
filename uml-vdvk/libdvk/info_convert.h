// info_convert.h - fixed wire info structs (wire/vdvk_ring.h) to the DVS
// structs of dvk.h. The wire structs were copied out of shared memory before
// conversion; strings are re-terminated because the backend is not trusted.
#pragma once

#include "dvk/dvk.h"
#include "wire/vdvk_ring.h"

namespace vdvk::client {

void ToDcUsr(const vdvk_dc_info& w, dc_usr_t* out);
void ToProcUsr(const vdvk_proc_info& w, proc_usr_t* out);
void ToDvsUsr(const vdvk_dvs_info& w, dvs_usr_t* out);
void ToNodeUsr(const vdvk_node_info& w, node_usr_t* out);
vdvk_dc_init FromDcUsr(const dc_usr_t& u);

}  // namespace vdvk::client
