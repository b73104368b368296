/* Fuzz target: cairn_msg_revision_resp_decode,
 * the GET /v1/revision response body (see fuzz_msg.h). */
#define MSG revision_resp
#include "fuzz_msg.h"
