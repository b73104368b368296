/* Fuzz target: cairn_msg_attest_req_decode,
 * the POST /v1/attest request body (see fuzz_msg.h). */
#define MSG attest_req
#include "fuzz_msg.h"
