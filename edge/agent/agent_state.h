/* edge/agent/agent_state.h - what cairn-agent keeps on disk.
 *
 * Files (names fixed; see docs/agent.md):
 *   <data_dir>/agent_svid.pem     node SVID chain, leaf first (PEM, 0644)
 *   <keys_dir>/agent_svid.key     its private key (SEC1 PEM, 0600)
 *   <data_dir>/bundle.json        trust bundle (SPIFFE JSON, 0644)
 * keys_dir is the KeyManager "disk" directory (data_dir by default); with
 * KeyManager "memory" neither the key nor the SVID is written.
 *
 * The SVID and its key live in two files, so a new pair is written in an
 * order that a crash cannot break: the key goes to agent_svid.key.next,
 * then the chain replaces agent_svid.pem, then agent_svid.key.next is
 * renamed over agent_svid.key (each write through
 * cairn_file_write_atomic). Loading takes whichever of .key and .key.next
 * matches the chain and finishes an interrupted rename.
 */
#ifndef CAIRN_EDGE_AGENT_STATE_H
#define CAIRN_EDGE_AGENT_STATE_H

#include <stddef.h>
#include <time.h>

#include "cairn/id.h"
#include "agent_conf.h"

struct cairn_bundle;
struct cairn_cert_list;
struct cairn_key;

#define EA_STATE_SVID_FILE "agent_svid.pem"
#define EA_STATE_KEY_FILE "agent_svid.key"
#define EA_STATE_KEY_NEXT_SUFFIX ".next"
#define EA_STATE_BUNDLE_FILE "bundle.json"
#define EA_STATE_CHAIN_PEM_MAX (512 * 1024)

/* A node SVID with its key. */
struct ea_svid {
  struct cairn_cert_list *chain; /* leaf first, then intermediates */
  struct cairn_key *key;         /* private key of the leaf */
  struct cairn_id id;            /* the leaf's SPIFFE ID */
  time_t not_before, not_after;  /* of the leaf */
  char serial[41];               /* of the leaf, lower-case hex */
};

/* Builds an SVID from a chain and its key, taking ownership of both on
 * success only. CAIRN_ERR_POLICY when the leaf has no single SPIFFE ID or
 * the key is not the leaf's, CAIRN_ERR_INVAL for an empty chain or a key
 * without its private part. *out: ea_svid_free(). */
int ea_svid_new(struct cairn_cert_list *chain, struct cairn_key *key,
                struct ea_svid **out);
/* NULL-safe; zeroises the key. */
void ea_svid_free(struct ea_svid *s);
/* Parses the DER certificates of a message chain (leaf first) into a new
 * list. *out: cairn_cert_list_free(). CAIRN_ERR_PARSE names the bad one
 * as "svid[i]: ..." (ea_chain_from_msg_named(): "<what>[i]: ..."). */
struct cairn_msg_chain;
int ea_chain_from_msg(const struct cairn_msg_chain *m,
                      struct cairn_cert_list **out);
int ea_chain_from_msg_named(const struct cairn_msg_chain *m, const char *what,
                            struct cairn_cert_list **out);
/* The chain and key as PEM texts for cairn_net_client_set_credentials().
 * *chain: free(); *key: cairn_freezero(*key, *key_len). */
int ea_svid_pem(const struct ea_svid *s, char **chain, size_t *chain_len,
                char **key, size_t *key_len);

/* The file names of one agent. */
struct ea_files {
  char *svid;      /* <data_dir>/agent_svid.pem */
  char *key;       /* <keys_dir>/agent_svid.key; NULL: KeyManager memory */
  char *key_next;  /* <keys_dir>/agent_svid.key.next; NULL likewise */
  char *bundle;    /* <data_dir>/bundle.json */
};

/* dir + "/" + name with dir's trailing slashes dropped ("/" stays "/"), as
 * a new string (free()); NULL when out of memory. */
char *ea_path_join(const char *dir, const char *name);

/* keys_dir NULL means KeyManager "memory". ea_files_clear() frees. */
int ea_files_init(struct ea_files *f, const char *data_dir,
                  const char *keys_dir);
void ea_files_clear(struct ea_files *f);

/* Loads the persisted node SVID and key. CAIRN_ERR_NOT_FOUND when there is
 * no SVID file (or KeyManager "memory"); CAIRN_ERR_PERM for a key file
 * that group or other may access; CAIRN_ERR_POLICY when no key file
 * matches the SVID; parse and I/O errors otherwise, each with a detail
 * naming the file. Does not check validity dates or the bundle. */
int ea_state_load_svid(const struct ea_files *f, struct ea_svid **out);
/* Persists s in the crash-safe order above; a no-op with KeyManager
 * "memory". */
int ea_state_save_svid(const struct ea_files *f, const struct ea_svid *s);

/* Loads <data_dir>/bundle.json as the bundle of td. CAIRN_ERR_NOT_FOUND
 * when absent. *out: cairn_bundle_free(). */
int ea_state_load_bundle(const struct ea_files *f, const char *td,
                         struct cairn_bundle **out);
int ea_state_save_bundle(const struct ea_files *f,
                         const struct cairn_bundle *b);

/* Reads the operator's bootstrap bundle (trust_bundle_path) as the bundle
 * of td: PEM CA certificates or SPIFFE bundle JSON (EA_BUNDLE_AUTO: PEM
 * when the text holds "-----BEGIN", else JSON). It must hold at least one
 * X.509 authority (CAIRN_ERR_PARSE otherwise). *out: cairn_bundle_free(). */
int ea_bundle_read_file(const char *path, enum ea_bundle_format fmt,
                        const char *td, struct cairn_bundle **out);

#endif
