/* Fuzz target: cairn_msg_svids_resp_decode,
 * the POST /v1/svids response body (see fuzz_msg.h). */
#define MSG svids_resp
#include "fuzz_msg.h"
