/* Fuzz target: cairn_msg_renew_req_decode,
 * the POST /v1/node/renew request body (see fuzz_msg.h). */
#define MSG renew_req
#include "fuzz_msg.h"
