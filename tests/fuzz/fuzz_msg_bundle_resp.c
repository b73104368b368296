/* Fuzz target: cairn_msg_bundle_resp_decode,
 * the GET /v1/bundle response body (see fuzz_msg.h). */
#define MSG bundle_resp
#include "fuzz_msg.h"
