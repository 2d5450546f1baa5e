/* The httpd and APR headers our bindings are generated from, plus the
 * declarations of shim.c (the APIs C only offers as macros). */
#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_main.h>
#include <http_protocol.h>
#include <http_request.h>
#include <util_script.h>
#include <ap_mpm.h>
#include <ap_listen.h>
#include <mpm_common.h>
#include <unixd.h>
#include <mod_unixd.h>
#include <mod_status.h>
#include <apr_optional_hooks.h>
#include <apr_buckets.h>
#include <apr_strings.h>
#include <apr_thread_proc.h>

/* Macro-only values, made real so bindgen sees them. */
extern const unsigned long FCGID_MODULE_MAGIC_COOKIE;
extern const char FCGID_SUEXEC_BIN[];
extern const char FCGID_SUEXEC_LOG[];

/* brigades and buckets */
void fcgid_shim_brigade_insert_tail(apr_bucket_brigade *bb, apr_bucket *b);
int fcgid_shim_brigade_empty(apr_bucket_brigade *bb);
apr_bucket *fcgid_shim_brigade_first(apr_bucket_brigade *bb);
apr_bucket *fcgid_shim_brigade_sentinel(apr_bucket_brigade *bb);
apr_bucket *fcgid_shim_bucket_next(apr_bucket *b);
int fcgid_shim_bucket_is_eos(apr_bucket *b);
apr_status_t fcgid_shim_bucket_read(apr_bucket *b, const char **str, apr_size_t *len);
void fcgid_shim_bucket_delete(apr_bucket *b);
apr_status_t fcgid_shim_bucket_copy(apr_bucket *b, apr_bucket **c);
void fcgid_shim_bucket_destroy(apr_bucket *b);

/* tables */
const apr_array_header_t *fcgid_shim_table_elts(const apr_table_t *t);
