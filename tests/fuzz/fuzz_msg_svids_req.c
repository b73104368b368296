/* Fuzz target: cairn_msg_svids_req_decode,
 * the POST /v1/svids request body (see fuzz_msg.h). */
#define MSG svids_req
#include "fuzz_msg.h"
