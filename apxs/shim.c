/* Functions for the APIs that httpd and APR only provide as C macros.
 * Nothing else belongs here. */
#include "wrapper.h"

const unsigned long FCGID_MODULE_MAGIC_COOKIE = MODULE_MAGIC_COOKIE;

/* httpd's suexec binary and its log, as httpd was built (empty if not). */
#ifdef SUEXEC_BIN
const char FCGID_SUEXEC_BIN[] = SUEXEC_BIN;
#else
const char FCGID_SUEXEC_BIN[] = "";
#endif
#ifdef AP_LOG_EXEC
const char FCGID_SUEXEC_LOG[] = AP_LOG_EXEC;
#else
const char FCGID_SUEXEC_LOG[] = "";
#endif

void fcgid_shim_brigade_insert_tail(apr_bucket_brigade *bb, apr_bucket *b)
{
    APR_BRIGADE_INSERT_TAIL(bb, b);
}

int fcgid_shim_brigade_empty(apr_bucket_brigade *bb)
{
    return APR_BRIGADE_EMPTY(bb);
}

apr_bucket *fcgid_shim_brigade_first(apr_bucket_brigade *bb)
{
    return APR_BRIGADE_FIRST(bb);
}

apr_bucket *fcgid_shim_brigade_sentinel(apr_bucket_brigade *bb)
{
    return APR_BRIGADE_SENTINEL(bb);
}

apr_bucket *fcgid_shim_bucket_next(apr_bucket *b)
{
    return APR_BUCKET_NEXT(b);
}

int fcgid_shim_bucket_is_eos(apr_bucket *b)
{
    return APR_BUCKET_IS_EOS(b);
}

apr_status_t fcgid_shim_bucket_read(apr_bucket *b, const char **str, apr_size_t *len)
{
    return apr_bucket_read(b, str, len, APR_BLOCK_READ);
}

void fcgid_shim_bucket_delete(apr_bucket *b)
{
    apr_bucket_delete(b);
}

apr_status_t fcgid_shim_bucket_copy(apr_bucket *b, apr_bucket **c)
{
    return apr_bucket_copy(b, c);
}

void fcgid_shim_bucket_destroy(apr_bucket *b)
{
    apr_bucket_destroy(b);
}

const apr_array_header_t *fcgid_shim_table_elts(const apr_table_t *t)
{
    return apr_table_elts(t);
}
