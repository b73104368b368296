/* Fuzz target: cairn_msg_jwt_req_decode,
 * the POST /v1/jwt request body (see fuzz_msg.h). */
#define MSG jwt_req
#include "fuzz_msg.h"
