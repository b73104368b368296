/* Fuzz target: cairn_msg_attest_resp_decode,
 * the POST /v1/attest response body (see fuzz_msg.h). */
#define MSG attest_resp
#include "fuzz_msg.h"
