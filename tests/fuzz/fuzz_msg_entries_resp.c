/* Fuzz target: cairn_msg_entries_resp_decode,
 * the GET /v1/entries response body (see fuzz_msg.h). */
#define MSG entries_resp
#include "fuzz_msg.h"
