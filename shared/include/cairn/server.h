/* cairn/server.h - start-up pieces shared by the Cairn daemons: the
 * command line, data_dir, the datastore, the admin socket, the agent
 * endpoint's options and the pruning timer's work of cairn-cloud and
 * cairn-edge; cairn-agent uses the data_dir helpers too.
 *
 * A daemon reports every start-up failure as one line on stderr,
 * "<prog>: <what>: <reason>", and exits 1. The functions below that start
 * something return NULL on success, else <what> (a static phrase such as
 * "cannot lock data_dir") with the reason in cairn_errdetail(), ready for
 * cairn_server_die().
 */
#ifndef CAIRN_SERVER_H
#define CAIRN_SERVER_H

#include <stddef.h>

#include <uv.h>

struct cairn_admin;
struct cairn_admin_opts;
struct cairn_authority;
struct cairn_authority_opts;
struct cairn_ca;
struct cairn_grpc_server;
struct cairn_srvconf;
struct cairn_store;

/* Prints "<prog>: <what>: <cairn_errdetail()>" (without ": <detail>"
 * when the detail is empty) on stderr and returns 1, the exit status. */
int cairn_server_die(const char *prog, const char *what);

/* ---- command line -------------------------------------------------------- */

/* A flag that takes a value: "-name VALUE", "-name=VALUE", also with
 * "--". A missing or empty value is "<prog>: <the argument> needs
 * <need>", e.g. need "a file path". */
struct cairn_server_flag {
  const char *name;     /* without dashes, e.g. "config" */
  const char *need;     /* what the value is, for the error */
  const char **value;   /* set to the value (points into argv) */
};

/* Parses argv[1..]: the value flags of the array flags (ending with a
 * NULL name), -h/-help/--help (prints usage on stdout) and --version
 * (prints "<prog> <version>"). Returns 0 to run, 1 when help or the
 * version was printed (exit 0), 2 after a usage error printed on stderr:
 * "unexpected argument 'x' (see <prog> --help)" for a word that is not a
 * flag, "unknown flag '-x' (see <prog> --help)" and the need message
 * above. */
int cairn_server_parse_args(int argc, char **argv, const char *prog,
                            const char *version, const char *usage,
                            const struct cairn_server_flag *flags);

/* ---- data_dir and files -------------------------------------------------- */

/* Creates dir (0700, with its parents) when missing and refuses one that
 * is not a directory (CAIRN_ERR_IO "x is not a directory"). */
int cairn_server_ensure_dir(const char *dir);

/* The directory part of path into out: "." for a bare name, "/" for a
 * file in the root. */
void cairn_server_dir_of(const char *path, char *out, size_t outlen);

/* Takes an exclusive lock on <data_dir>/<file> (created 0600; symbolic
 * links refused), so that two daemons never share one data_dir. On
 * success *fd holds the lock for the life of the process (close() it to
 * release). CAIRN_ERR_EXISTS "another <prog> is running with data_dir
 * <data_dir>" when the lock is held; CAIRN_ERR_INVAL "data_dir path is too
 * long" past PATH_MAX; CAIRN_ERR_IO with the path otherwise. */
int cairn_server_lock_data_dir(const char *data_dir, const char *file,
                               const char *prog, int *fd);

/* ---- cairn-cloud and cairn-edge ------------------------------------------ */

/* What cairn-cloud and cairn-edge hold alike, inside each program's own
 * state. The program zeroes it and sets lock_fd to -1; it owns every
 * member, and cairn_server_close() releases them all. */
struct cairn_server {
  struct cairn_srvconf *cfg;      /* the configuration */
  struct cairn_store *st;         /* the datastore */
  struct cairn_ca *ca;            /* the CA manager */
  struct cairn_admin *admin;      /* the admin API, served by srv on the */
  struct cairn_grpc_server *srv;  /* admin socket */
  struct cairn_authority *auth;   /* the endpoint for agents and edges */
  uv_loop_t loop;                 /* runs everything */
  int loop_ready;                 /* loop is initialised */
  int lock_fd;                    /* holds <data_dir>/<lock file> for the
                                     life of the process: two servers never
                                     share one data_dir (and its CA) */
};

/* Creates s->cfg's data_dir, locks it with lock_file (see
 * cairn_server_lock_data_dir(); s->lock_fd), creates the datastore's
 * directory and opens the datastore (s->st). NULL or what failed (see
 * above); what was opened is released by cairn_server_close(). */
const char *cairn_server_open_store(struct cairn_server *s,
                                    const char *lock_file, const char *prog);

/* Fills *o for cairn_admin_new() from c: the default SVID TTLs, the
 * upstream scope (NULL for cairn-cloud), owner and version (not copied:
 * c, owner and version must outlive the call to cairn_admin_new()). */
void cairn_server_admin_opts(const struct cairn_srvconf *c, const char *owner,
                             const char *version,
                             struct cairn_admin_opts *o);

/* Serves s->admin on s->loop: a new gRPC server (s->srv) with the admin
 * methods, listening on s->cfg's socket_path (mode 0600) after creating
 * its directory. NULL or what failed (see above). */
const char *cairn_server_admin_listen(struct cairn_server *s);

/* Starts the endpoint for agents and edges (s->auth, cairn/authority.h)
 * on s->loop with s->cfg's trust domain, bind address and port, default
 * and node SVID TTLs and join_token attestation; the entries it registers
 * get owner (a string that must outlive s->auth). NULL or what failed
 * ("cannot start the agent endpoint", see above). */
const char *cairn_server_start_endpoint(struct cairn_server *s,
                                        const char *owner);

/* Logs (INFO, module mod) the line that says the server serves:
 * "<prog> ready: trust_domain=... socket=... bind_address=...
 * bind_port=..." (the port the endpoint got). */
void cairn_server_log_ready(const struct cairn_server *s, const char *prog,
                            const char *mod);

/* The end of a server, after the program stopped its own handles (timers,
 * signals) and clients: frees s->srv and s->auth, runs the loop until
 * every handle is closed (a WARN under module mod when some stay open),
 * then frees the admin API, the CA manager, the datastore, the data_dir
 * lock and the configuration. Safe after a start-up that failed at any
 * point. */
void cairn_server_close(struct cairn_server *s, const char *mod);

/* Deletes the expired join tokens and registration entries of st, logging
 * (under module mod) how many at INFO, failures at WARN. */
void cairn_server_prune(struct cairn_store *st, const char *mod);

#endif
