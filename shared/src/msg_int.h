/* msg_int.h - the table-driven CBOR codec behind cairn/msg.h.
 *
 * Each message is described by a table of fields (key, type, offset in the
 * struct, caps, semantic check). msg.c walks a table to decode, encode,
 * clear and compare; msg_schema.c holds the tables and the public
 * functions. A field's key is its struct member's name.
 */
#ifndef CAIRN_MSG_INT_H
#define CAIRN_MSG_INT_H

#include <stddef.h>
#include <stdint.h>

enum cairn__msg_type {
  CAIRN__MSG_TSTR,       /* char * */
  CAIRN__MSG_BSTR,       /* struct cairn_msg_bytes */
  CAIRN__MSG_UINT,       /* uint64_t, at most umax */
  CAIRN__MSG_BOOL,       /* int */
  CAIRN__MSG_CHAIN,      /* struct cairn_msg_chain: array of bstr */
  CAIRN__MSG_TSTRS,      /* char ** at off, size_t at off_n */
  CAIRN__MSG_SELECTORS,  /* struct cairn_msg_selector * at off, count at off_n */
  CAIRN__MSG_MAPS        /* array of sub-structs (sub->size each) at off,
                            count at off_n */
};

enum cairn__msg_check {
  CAIRN__MSG_CHK_NONE,
  CAIRN__MSG_CHK_ID,       /* cairn_id_validate() */
  CAIRN__MSG_CHK_TD,       /* cairn_td_validate() */
  CAIRN__MSG_CHK_ENTRY_ID  /* [A-Za-z0-9._-] */
};

#define CAIRN__MSG_OPTIONAL 1u  /* may be absent (TSTR: NULL, CHAIN: n 0,
                                   UINT: 0) */
#define CAIRN__MSG_SECRET 2u    /* TSTR zeroised when cleared */

struct cairn__msg_desc;

struct cairn__msg_field {
  const char *key;
  enum cairn__msg_type type;
  unsigned flags;
  size_t off;                 /* the value, or the array pointer */
  size_t off_n;               /* array count (TSTRS, SELECTORS, MAPS) */
  size_t min, max;            /* TSTR/BSTR length; array item count */
  uint64_t umax;              /* UINT */
  size_t item_min, item_max;  /* lengths of CHAIN / TSTRS items */
  enum cairn__msg_check check;  /* TSTR, TSTRS items */
  const struct cairn__msg_desc *sub;  /* MAPS */
};

struct cairn__msg_desc {
  const struct cairn__msg_field *fields;
  size_t n_fields;
  size_t size;                /* sizeof the struct */
  size_t body_max;            /* body cap (top-level messages) */
  /* An extra rule over the whole decoded/encodable struct: NULL when it
   * holds, else the complaint. May be NULL. */
  const char *(*rule)(const void *obj);
};

int cairn__msg_decode(const struct cairn__msg_desc *md, const uint8_t *data,
                      size_t len, void *out);
int cairn__msg_encode(const struct cairn__msg_desc *md, const void *in,
                      uint8_t **out, size_t *out_len);
void cairn__msg_clear(const struct cairn__msg_desc *md, void *obj);
int cairn__msg_equal(const struct cairn__msg_desc *md, const void *a,
                     const void *b);

#endif
