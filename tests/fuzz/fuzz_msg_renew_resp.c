/* Fuzz target: cairn_msg_renew_resp_decode,
 * the POST /v1/node/renew response body (see fuzz_msg.h). */
#define MSG renew_resp
#include "fuzz_msg.h"
