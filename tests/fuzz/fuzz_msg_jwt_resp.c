/* Fuzz target: cairn_msg_jwt_resp_decode,
 * the POST /v1/jwt response body (see fuzz_msg.h). */
#define MSG jwt_resp
#include "fuzz_msg.h"
