/* Fuzz target: cairn_msg_ds_jwtkey_req_decode,
 * the POST /v1/downstream/jwt-key request body (see fuzz_msg.h). */
#define MSG ds_jwtkey_req
#include "fuzz_msg.h"
