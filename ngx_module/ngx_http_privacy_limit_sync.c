
/*
 * privacy-edge: rate limits global across nodes at local speed:
 * sync=redis with sync_interval.
 *
 * A request is decided from this node's zone in shared memory, exactly as
 * a local zone's, and never waits for Redis.  What the node charged is
 * listed per key.  Once per interval one worker of the node (whichever
 * worker's timer comes first claims the flush, in the zone) sends each
 * listed key's charges to Redis and gets back the key's global state: all
 * the keys in a few calls that leave in one write, one round trip per
 * interval for the node, on Redis's clock.  The key's state here is then
 * Redis's, plus what this node charged since.  Keys nobody charged cost
 * nothing.
 *
 * A key new to this node starts here from a full bucket, and is sent
 * (or asked about, below) soon rather than at the next interval (no
 * sooner than a sixteenth of it after the last flush): the node learns
 * the key's global state before its next few requests.  Other nodes'
 * charges are seen here one
 * to two intervals late (and a round trip to Redis).  With N nodes, at
 * most about (N - 1) x (rate x 2 x interval + burst + 1) more requests
 * pass in a window than an exact limit would let.
 *
 * Shares.  Redis keeps which nodes share the zone (those that exchanged
 * within a linger: four intervals and four timeouts).  With N of them, a
 * key charged on each node at no more than rate / N (burst / N) cannot
 * pass more than the limit in all: such a key is decided here alone and
 * costs Redis nothing but being asked about once when new here.  A key
 * over this node's share is sent from then on, and named, by a keyed
 * hash of it, in the zone's list of shared keys in Redis; every node
 * reads the list's news at each exchange, and the key's global state
 * with it, and sends its own charges of the key too: the key is limited
 * globally as above until no node has been over its share for a linger.
 * What a node kept to itself and still owes in its share goes with its
 * first charges sent.  Until a node first hears from Redis how many
 * share the zone, it sends every key.
 *
 * Redis slow or away: the node limits alone, and its charges stay listed
 * until Redis takes them, then every node goes on from the global state
 * again (what passed meanwhile is charged, as what it still owes).  A
 * flush whose answer was lost (timed out, connection lost) is not sent
 * again: Redis may have applied it, and counting it twice would refuse
 * for nothing.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <hiredis/hiredis.h>
#include <openssl/rand.h>

#include "ngx_http_privacy_limit.h"
#include "pe_siphash.h"


#define NGX_HTTP_PRIVACY_SYNC_BATCH  256    /* keys in one call */
#define NGX_HTTP_PRIVACY_SYNC_CALLS  32     /* calls in one flush */
#define NGX_HTTP_PRIVACY_SYNC_ASK    1024   /* keys new here, one call */
#define NGX_HTTP_PRIVACY_SYNC_ID_LEN 16     /* a key's hash in hex */


typedef struct ngx_http_privacy_limit_flusher_s
    ngx_http_privacy_limit_flusher_t;


/*
 * One call's keys, as listed in the zone, and what was sent of each; an
 * exchange of no key is the head alone, up to key.
 */
typedef struct {
    ngx_http_privacy_limit_flusher_t  *flusher;
    ngx_http_privacy_redis_call_t     *call;
    ngx_uint_t                         index;
    ngx_uint_t                         nkeys;
    ngx_uint_t                         nask;
    uint64_t                           taken;   /* sync clock */
    uint64_t                           cursor;  /* of the shared keys */
    ngx_uint_t                         read;    /* reads them */
    ngx_str_t                          key[NGX_HTTP_PRIVACY_SYNC_BATCH];
    ngx_rbtree_key_t                   hash[NGX_HTTP_PRIVACY_SYNC_BATCH];
    uint32_t                           count[NGX_HTTP_PRIVACY_SYNC_BATCH];
    uint64_t                           age[NGX_HTTP_PRIVACY_SYNC_BATCH];
    uint64_t                           alone[NGX_HTTP_PRIVACY_SYNC_BATCH];
    u_char                             over[NGX_HTTP_PRIVACY_SYNC_BATCH];
    ngx_rbtree_key_t                   ask[NGX_HTTP_PRIVACY_SYNC_ASK];
} ngx_http_privacy_limit_batch_t;


/* a worker's flusher of one zone */
struct ngx_http_privacy_limit_flusher_s {
    ngx_shm_zone_t                    *shm_zone;
    ngx_http_privacy_main_conf_t      *pmcf;
    ngx_event_t                        tick;       /* every interval */
    ngx_event_t                        soon;       /* a key new here */
    ngx_event_t                        timeout;    /* the flush's answers */
    ngx_uint_t                         outstanding;
    ngx_http_privacy_limit_batch_t    *batch[NGX_HTTP_PRIVACY_SYNC_CALLS];
};


static void ngx_http_privacy_limit_sync_soon(
    ngx_http_privacy_limit_zone_t *zone);
static void ngx_http_privacy_limit_sync_tick(ngx_event_t *ev);
static void ngx_http_privacy_limit_sync_soon_handler(ngx_event_t *ev);
static void ngx_http_privacy_limit_sync_timeout(ngx_event_t *ev);
static void ngx_http_privacy_limit_sync_done(void *data, void *r);
static void ngx_http_privacy_limit_sync_reask(
    ngx_http_privacy_limit_zone_t *zone, ngx_http_privacy_limit_batch_t *b);
static void ngx_http_privacy_limit_sync_shared(
    ngx_http_privacy_limit_zone_t *zone, redisReply *reply,
    ngx_http_privacy_limit_batch_t *b, uint64_t now);


/*
 * A key's charges into the global state, on Redis's clock, in
 * microseconds as the exact script's: the arrival time moves on by one
 * interval per charge, from when the oldest charge was made at the
 * earliest (its age) rather than from now, so that charges spread over an
 * interval weigh as they did here.  The arrival time is kept even when
 * it is past, for as long as another node's charges of the same
 * interval may still come (hold, in ms: two intervals and two timeouts,
 * what an exchange may take): nodes each under the rate add up to more
 * than it only so.  Charges older than that were held back by an outage,
 * over a time in which the key drained whatever other nodes charged:
 * they add what they still owe by themselves (their debt) to what is
 * owed now.  A key used under the rate on two nodes is then not refused
 * when the outage ends (stacked whole, a backlog refused it for up to as
 * long as the outage lasted), and a quota used on both during it is owed
 * each node's debt, less at most the outage's length (what both drained
 * at once; telling that apart would need the start of the key's debt
 * kept in Redis too).
 *
 * KEYS: the zone's nodes (a sorted set of node ids by last exchange),
 * its shared keys (key ids by when a node was last over its share of
 * them), then the keys sent.  ARGV[1] is the call's request count (one;
 * calls alike may share one), then the interval in ns, hold and linger
 * in ms, this node's id, the time of the shared keys it read last ("-":
 * none read, the flush's first call reads them), the
 * prefix of the names of shared keys' Redis keys, the count of keys
 * asked about; count, age and debt in us, over its share (1) or not, and
 * id per key sent; then the ids of the keys asked about (new here: are
 * they shared?).  Answers, to each, the microseconds each key sent is
 * owed (its arrival time past now), how many nodes share the zone, the
 * time of the shared keys read, then the id and what is owed of each
 * key shared since then or asked about and shared.  A key asked about
 * is shared while its name is kept, as long as its state (every key
 * sent keeps it): a key used up stays known to a node new to it.  The
 * node's own entry is a write: a Redis refusing writes refuses an
 * exchange of no key too.
 * Redis pays this for every key sent, so the keys are read in one MGET
 * and written as Lua numbers, unformatted: about a third less of its CPU
 * per key than a GET and a formatted SET.
 */

static ngx_http_privacy_redis_script_t  ngx_http_privacy_limit_sync_script = {
    ngx_string(
    "if redis.replicate_commands then redis.replicate_commands() end\n"
    "local function mget(keys)\n"
    "  local r = {}\n"
    "  for i = 1, #keys, 1000 do\n"
    "    local v = redis.call('MGET',\n"
    "                         unpack(keys, i, math.min(i + 999, #keys)))\n"
    "    for j = 1, #v do r[i + j - 1] = v[j] end\n"
    "  end\n"
    "  return r\n"
    "end\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "local iv = tonumber(ARGV[2]) / 1000\n"
    "local hold = tonumber(ARGV[3])\n"
    "local linger = tonumber(ARGV[4])\n"
    "local names = ARGV[7]\n"
    "redis.call('ZADD', KEYS[1], now, ARGV[5])\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - linger * 1000)\n"
    "redis.call('PEXPIRE', KEYS[1], linger)\n"
    "local ids = {}\n"
    "if ARGV[6] ~= '-' then\n"
    "  ids = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. ARGV[6], '+inf')\n"
    "end\n"
    "local out = {}\n"
    "local n = #KEYS - 2\n"
    "local old = n > 0 and redis.call('MGET', unpack(KEYS, 3)) or {}\n"
    "local shared = false\n"
    "for i = 1, n do\n"
    "  local o = 8 + 5 * (i - 1)\n"
    "  local base = tonumber(old[i]) or 0\n"
    "  local tat\n"
    "  local age = tonumber(ARGV[o + 2])\n"
    "  if age > hold * 1000 then\n"
    "    tat = math.max(base, now) + ARGV[o + 3]\n"
    "  else\n"
    "    tat = math.max(base, now - age) + ARGV[o + 1] * iv\n"
    "  end\n"
    "  local px = math.ceil((tat - now) / 1000) + hold\n"
    "  if px > 0 then\n"
    "    redis.call('SET', KEYS[i + 2], tat, 'PX', px)\n"
    "  end\n"
    "  out[i] = math.max(math.ceil(tat - now), 0)\n"
    "  if ARGV[o + 4] == '1' then\n"
    "    redis.call('ZADD', KEYS[2], now, ARGV[o + 5])\n"
    "    redis.call('SET', names .. ARGV[o + 5], KEYS[i + 2], 'PX',\n"
    "               math.max(linger, px))\n"
    "    shared = true\n"
    "  else\n"
    "    redis.call('PEXPIRE', names .. ARGV[o + 5], math.max(linger, px))\n"
    "  end\n"
    "end\n"
    "if shared then\n"
    "  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - linger * 1000)\n"
    "  redis.call('PEXPIRE', KEYS[2], linger)\n"
    "end\n"
    "out[n + 1] = redis.call('ZCARD', KEYS[1])\n"
    "out[n + 2] = ARGV[6] ~= '-' and now or 0\n"
    "local first = 8 + 5 * n\n"
    "for i = 1, tonumber(ARGV[8]) do ids[#ids + 1] = ARGV[first + i] end\n"
    "if #ids > 0 then\n"
    "  local nk = {}\n"
    "  for j = 1, #ids do nk[j] = names .. ids[j] end\n"
    "  local ks = mget(nk)\n"
    "  local k, id = {}, {}\n"
    "  for j = 1, #ids do\n"
    "    if ks[j] then k[#k + 1] = ks[j]; id[#id + 1] = ids[j] end\n"
    "  end\n"
    "  local tats = mget(k)\n"
    "  for j = 1, #id do\n"
    "    out[#out + 1] = id[j]\n"
    "    out[#out + 1] = math.max(math.ceil((tonumber(tats[j]) or 0) - now),\n"
    "                             0)\n"
    "  end\n"
    "end\n"
    "local res = {}\n"
    "for j = 1, tonumber(ARGV[1]) do res[j] = out end\n"
    "return res\n"),
    { 0 }
};


char *
ngx_http_privacy_limit_sync_init_main(ngx_conf_t *cf,
    ngx_http_privacy_main_conf_t *pmcf)
{
    u_char  sig[PE_JWS_SIG_LEN], digest[32];

    if (pmcf->sync_zones == NULL) {
        return NGX_CONF_OK;
    }

    /*
     * The key of the keys' hashes, from privacy_key as their Redis names
     * are: every node sharing a zone names a key alike, and nobody
     * without privacy_key can tell which key a hash is of.  Made anew
     * for every configuration (a reload's too): the script is not.
     */
    if (pe_hs256(pmcf->key.data, pmcf->key.len,
                 (u_char *) "privacy-edge limit key ids",
                 sizeof("privacy-edge limit key ids") - 1, (char *) sig)
        != 0
        || pe_base64url_decode((char *) sig, PE_JWS_SIG_LEN, digest,
                               sizeof(digest))
           < (long) sizeof(pmcf->sync_hash_key))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "privacy: cannot derive the limit key hash");
        return NGX_CONF_ERROR;
    }

    if (ngx_http_privacy_limit_sync_script.sha1[0] == '\0'
        && ngx_http_privacy_redis_script_init(
               &ngx_http_privacy_limit_sync_script)
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(pmcf->sync_hash_key, digest, sizeof(pmcf->sync_hash_key));

    return NGX_CONF_OK;
}


/* this node's id among those sharing a zone: 16 hex digits, at random */

ngx_int_t
ngx_http_privacy_limit_sync_node_id(u_char *id)
{
    u_char  raw[8];

    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        return NGX_ERROR;
    }

    (void) ngx_hex_dump(id, raw, sizeof(raw));

    return NGX_OK;
}


/* a key's node here and its id in Redis's list of shared keys */

ngx_rbtree_key_t
ngx_http_privacy_limit_sync_hash(ngx_http_privacy_main_conf_t *pmcf,
    ngx_str_t *key)
{
    return (ngx_rbtree_key_t) pe_siphash24(pmcf->sync_hash_key, key->data,
                                           key->len);
}


/* how long a key stays shared, and a node counted, after the last word */

static ngx_msec_t
ngx_http_privacy_limit_sync_linger(ngx_http_privacy_limit_zone_t *zone)
{
    return 4 * (zone->sync_interval
                + ngx_http_privacy_redis_timeout(zone->pmcf->redis));
}


/* a key not here, shared by other nodes as read lately (locked) */

ngx_http_privacy_limit_heard_t *
ngx_http_privacy_limit_sync_heard(ngx_http_privacy_limit_zone_t *zone,
    ngx_rbtree_key_t hash, uint64_t now)
{
    ngx_http_privacy_limit_heard_t  *heard;

    if (zone->sh->heard == NULL) {
        return NULL;
    }

    heard = &zone->sh->heard[hash % NGX_HTTP_PRIVACY_LIMIT_HEARD];

    return (heard->id == hash && heard->until > now) ? heard : NULL;
}


/*
 * A key new here (locked): shared by other nodes, as read lately, it
 * starts from their global state, and is sent from its first charge.
 */

void
ngx_http_privacy_limit_sync_created(ngx_http_privacy_limit_zone_t *zone,
    ngx_http_privacy_limit_node_t *ln, ngx_rbtree_key_t hash, uint64_t now)
{
    ngx_http_privacy_limit_heard_t  *heard;

    heard = ngx_http_privacy_limit_sync_heard(zone, hash, now);

    if (heard == NULL) {
        return;
    }

    ln->tat = heard->tat;
    ln->shared = heard->until;
    ln->checked = 1;

    /* its charges go soon, as a new key's would */
    ngx_http_privacy_limit_sync_soon(zone);
}


/*
 * The node's share of a key, counted at another number of nodes: what is
 * left of it weighs as many charges at the number now, not fewer (a
 * charge kept at N = 1 and counted at N = 2 was half lost).
 */

static void
ngx_http_privacy_limit_sync_rescale(ngx_http_privacy_limit_node_t *ln,
    ngx_uint_t nodes, uint64_t now)
{
    ngx_uint_t  n;

    n = ngx_min(ngx_max(nodes, 1), 255);

    if (ln->share > now && ln->share_nodes && ln->share_nodes != n) {
        ln->share = now + (ln->share - now) / ln->share_nodes * n;
    }

    ln->share_nodes = (u_char) n;
}


/*
 * A key this node kept to itself becomes shared: the charges it kept that
 * are still in its share (made within the share's tolerance) are sent
 * with the next, as if made now; older ones weigh nothing by now.
 */

static uint32_t
ngx_http_privacy_limit_sync_in_share(ngx_http_privacy_limit_node_t *ln,
    uint64_t now, uint64_t iv)
{
    uint64_t  n;

    if (ln->share <= now) {
        return 0;
    }

    n = (ln->share - now + iv - 1) / iv;

    return (uint32_t) ngx_min(n, ln->kept);
}


/*
 * A charge passed (locked): sent if the key is shared, or over this
 * node's share of it now; else decided here alone, and asked about once
 * if new here.  Until the node knows how many share the zone, sent.
 */

void
ngx_http_privacy_limit_sync_charged(ngx_http_privacy_limit_zone_t *zone,
    ngx_http_privacy_limit_node_t *ln, uint64_t burst, uint64_t now)
{
    uint32_t    n;
    uint64_t    iv, share, tau;
    ngx_uint_t  nodes;

    zone->sh->active = 1;
    nodes = zone->sh->nodes;
    n = 1;

    ngx_http_privacy_limit_sync_rescale(ln, nodes, now);

    /* this node's share: GCRA at rate / N with the same tolerance in
       time (burst / N); counted from the first charge, N or not */
    iv = zone->rate.interval * ngx_max(nodes, 1);
    tau = burst * zone->rate.interval;

    if (ln->share <= now) {
        ln->kept = 0;               /* what it kept weighs nothing now */
    }

    share = ngx_max(ln->share, now) + iv;

    if (nodes == 0) {
        /* a key used up here is announced all the same (over a share of
           the whole limit), or nodes that learn of it later keep theirs */
        if (share - now > tau) {
            ln->over = 1;
            ln->shared = now
                         + (uint64_t) ngx_http_privacy_limit_sync_linger(zone)
                           * 1000000;
            share = ngx_min(share, now + tau + iv);
        }

        ln->share = share;

        if (!ln->checked) {
            ngx_http_privacy_limit_sync_soon(zone);     /* new here */
        }

        ln->checked = 1;
        ngx_http_privacy_limit_unsent(zone, ln, 1, 0, 0);
        return;
    }

    /* over it once a charge at once would be refused: on one node the
       last charge the zone lets pass shares the key */
    if (share - now > tau) {
        ln->over = 1;

        if (ln->shared <= now) {
            /* shared now: what it kept in its share goes too */
            n += ngx_http_privacy_limit_sync_in_share(ln, now, iv);
            ln->kept = 0;
            ngx_http_privacy_limit_sync_soon(zone);
        }

        ln->shared = now + (uint64_t) ngx_http_privacy_limit_sync_linger(zone)
                           * 1000000;

        share = ngx_min(share, now + tau + iv);
    }

    ln->share = share;

    if (ln->shared <= now) {
        if (ln->kept < NGX_MAX_UINT32_VALUE) {
            ln->kept++;
        }

        if (!ln->checked) {
            /* new here: is it shared already? */
            ln->checked = 1;
            ln->asked = 1;
            ngx_queue_insert_tail(&zone->sh->asked, &ln->unsent);
            ngx_http_privacy_limit_sync_soon(zone);
        }

        return;
    }

    ln->checked = 1;
    ngx_http_privacy_limit_unsent(zone, ln, n, 0, 0);
}


/*
 * When charges were made, for their age and debt: in nanoseconds (sent
 * in microseconds, as Redis counts), on the monotonic clock.  nginx's
 * cached time moves in whole milliseconds, so charges made in the
 * millisecond of a flush would be sent as made that instant, a charge's
 * worth too late at rates above 1000r/s.  Read once per charge and once
 * per flush.
 */

static uint64_t
ngx_http_privacy_limit_sync_clock(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000000 + (uint64_t) ts.tv_nsec;
}


/*
 * n charges of a key listed for the next flush: locked.  first: when the
 * oldest was made on the sync clock, or 0 for now; alone: the arrival
 * time of these charges by themselves (GCRA over them alone), which
 * tells what charges held back by an outage still owe.  Charges made now
 * follow those listed; charges listed again (their exchange never left)
 * precede them.
 */

void
ngx_http_privacy_limit_unsent(ngx_http_privacy_limit_zone_t *zone,
    ngx_http_privacy_limit_node_t *ln, uint32_t n, uint64_t first,
    uint64_t alone)
{
    uint64_t  clock, iv;

    iv = zone->rate.interval;

    if (first == 0) {
        clock = ngx_http_privacy_limit_sync_clock();
        first = clock;
        alone = (ln->pending ? ngx_max(ln->alone, clock) : clock) + n * iv;

    } else if (ln->pending) {
        alone = ngx_max(alone + ln->pending * iv, ln->alone);
    }

    if (ln->pending == 0) {
        if (ln->asked) {
            ngx_queue_remove(&ln->unsent);
            ln->asked = 0;
        }

        ln->first = first;
        ngx_queue_insert_tail(&zone->sh->unsent, &ln->unsent);

    } else if (first < ln->first) {
        ln->first = first;
    }

    ln->alone = alone;
    ln->pending = (ln->pending > NGX_MAX_UINT32_VALUE - n)
                  ? NGX_MAX_UINT32_VALUE : ln->pending + n;
}


ngx_int_t
ngx_http_privacy_limit_sync_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                          i;
    ngx_shm_zone_t                    **shm_zones;
    ngx_http_privacy_limit_flusher_t   *fl;
    ngx_http_privacy_main_conf_t       *pmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    pmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_privacy_module);

    if (pmcf == NULL || pmcf->sync_zones == NULL || pmcf->redis == NULL) {
        return NGX_OK;
    }

    shm_zones = pmcf->sync_zones->elts;

    for (i = 0; i < pmcf->sync_zones->nelts; i++) {
        fl = ngx_pcalloc(cycle->pool,
                         sizeof(ngx_http_privacy_limit_flusher_t));
        if (fl == NULL) {
            return NGX_ERROR;
        }

        fl->shm_zone = shm_zones[i];
        fl->pmcf = pmcf;

        fl->tick.handler = ngx_http_privacy_limit_sync_tick;
        fl->tick.data = fl;
        fl->tick.log = cycle->log;
        fl->tick.cancelable = 1;    /* does not hold a worker at exit */

        fl->soon.handler = ngx_http_privacy_limit_sync_soon_handler;
        fl->soon.data = fl;
        fl->soon.log = cycle->log;
        fl->soon.cancelable = 1;

        ((ngx_http_privacy_limit_zone_t *) fl->shm_zone->data)->flusher = fl;

        /* an exchange under way holds a worker that is to exit (a
           reload) until Redis answers or the timeout: its answer is
           applied, not counted lost */
        fl->timeout.handler = ngx_http_privacy_limit_sync_timeout;
        fl->timeout.data = fl;
        fl->timeout.log = cycle->log;

        /* workers start apart, so that one of them is always near */
        ngx_add_timer(&fl->tick, 1 + (ngx_msec_t) ngx_random()
                                     % ((ngx_http_privacy_limit_zone_t *)
                                        fl->shm_zone->data)->sync_interval);
    }

    return NGX_OK;
}


/* the flush is over: another worker may claim the next */

static void
ngx_http_privacy_limit_sync_finish(ngx_http_privacy_limit_flusher_t *fl)
{
    ngx_uint_t                      soon;
    ngx_http_privacy_limit_zone_t  *zone;

    zone = fl->shm_zone->data;

    if (fl->timeout.timer_set) {
        ngx_del_timer(&fl->timeout);
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    /* its own claim only: a late one may have been taken over */
    if (zone->sh->flush_owner == ngx_pid) {
        zone->sh->flush_busy = 0;
        zone->sh->flush_owner = 0;
    }

    soon = zone->sh->flush_soon;
    ngx_shmtx_unlock(&zone->shpool->mutex);

    /* keys new meanwhile, whose flush waited for this one */
    if (soon && !fl->soon.posted && !fl->soon.timer_set
        && !ngx_exiting && !ngx_terminate && !ngx_quit)
    {
        ngx_post_event(&fl->soon, &ngx_posted_events);
    }
}


/*
 * A key new to this node was charged (the zone is locked): this worker
 * flushes at the end of the event loop cycle, or as soon as it may.
 */

static void
ngx_http_privacy_limit_sync_soon(ngx_http_privacy_limit_zone_t *zone)
{
    ngx_http_privacy_limit_flusher_t  *fl;

    fl = zone->flusher;
    zone->sh->flush_soon = 1;

    if (fl && !fl->soon.posted && !fl->soon.timer_set) {
        ngx_post_event(&fl->soon, &ngx_posted_events);
    }
}


/*
 * Listed charges evicted with their key for want of memory in the zone:
 * never sent, so counted lost, and a zone too small for its keys shows.
 */

void
ngx_http_privacy_limit_sync_dropped(ngx_http_privacy_limit_zone_t *zone,
    ngx_uint_t n)
{
    ngx_http_privacy_limit_flusher_t  *fl;

    fl = zone->flusher;

    if (fl) {
        ngx_http_privacy_status_sync(fl->pmcf, NGX_HTTP_PRIVACY_SYNC_LOST, n);
    }
}


/* a key's node by its hash alone (Redis names shared keys so): locked */

static ngx_http_privacy_limit_node_t *
ngx_http_privacy_limit_sync_find(ngx_http_privacy_limit_zone_t *zone,
    ngx_rbtree_key_t hash)
{
    ngx_rbtree_node_t  *node, *sentinel;

    node = zone->sh->rbtree.root;
    sentinel = zone->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (hash != node->key) {
            node = (hash < node->key) ? node->left : node->right;
            continue;
        }

        return (ngx_http_privacy_limit_node_t *) &node->color;
    }

    return NULL;
}


/* keys a batch asked about, unanswered: asked again if here, unlisted */

static void
ngx_http_privacy_limit_sync_reask(ngx_http_privacy_limit_zone_t *zone,
    ngx_http_privacy_limit_batch_t *b)
{
    ngx_uint_t                      i;
    ngx_http_privacy_limit_node_t  *ln;

    for (i = 0; i < b->nask; i++) {
        ln = ngx_http_privacy_limit_sync_find(zone, b->ask[i]);

        if (ln && ln->pending == 0 && !ln->asked) {
            ln->asked = 1;
            ngx_queue_insert_tail(&zone->sh->asked, &ln->unsent);
        }
    }
}


/* a batch that never left: its charges are listed again, nothing lost */

static void
ngx_http_privacy_limit_sync_relist(ngx_http_privacy_limit_zone_t *zone,
    ngx_http_privacy_limit_batch_t *b, uint64_t now)
{
    uint64_t                        clock;
    ngx_uint_t                      i;
    ngx_http_privacy_limit_node_t  *ln;

    clock = ngx_http_privacy_limit_sync_clock();

    ngx_shmtx_lock(&zone->shpool->mutex);

    for (i = 0; i < b->nkeys; i++) {
        ln = ngx_http_privacy_limit_lookup(zone, &b->key[i], b->hash[i]);

        if (ln == NULL) {
            ln = ngx_http_privacy_limit_create(zone, &b->key[i], b->hash[i],
                                               now);
            if (ln == NULL) {
                ngx_http_privacy_limit_sync_dropped(zone, b->count[i]);
                continue;
            }

            /* idle here, as it was when expired: listed, it stays */
        }

        ngx_http_privacy_limit_unsent(zone, ln, b->count[i],
                                      clock - ngx_min(b->age[i], clock - 1),
                                      b->alone[i]);
        ln->over |= b->over[i];
        ln->checked = 1;
    }

    ngx_http_privacy_limit_sync_reask(zone, b);

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/*
 * Takes up to a flush's worth of listed keys off the zone's list, in
 * batches, each key with its charges and the age of the oldest: locked.
 */

static ngx_uint_t
ngx_http_privacy_limit_sync_take(ngx_http_privacy_limit_flusher_t *fl,
    ngx_http_privacy_limit_zone_t *zone)
{
    u_char                          *p;
    uint64_t                         clock;
    size_t                           size;
    ngx_uint_t                       n, i;
    ngx_queue_t                     *q, *last;
    ngx_http_privacy_limit_node_t   *ln;
    ngx_http_privacy_limit_batch_t  *b;

    clock = ngx_http_privacy_limit_sync_clock();

    for (n = 0; n < NGX_HTTP_PRIVACY_SYNC_CALLS; n++) {

        if (ngx_queue_empty(&zone->sh->unsent)
            && ngx_queue_empty(&zone->sh->asked))
        {
            break;
        }

        /* the keys' bytes follow the batch */

        size = sizeof(ngx_http_privacy_limit_batch_t);
        q = ngx_queue_head(&zone->sh->unsent);

        for (i = 0; i < NGX_HTTP_PRIVACY_SYNC_BATCH
                    && q != ngx_queue_sentinel(&zone->sh->unsent); i++)
        {
            ln = ngx_queue_data(q, ngx_http_privacy_limit_node_t, unsent);
            size += ln->len;
            q = ngx_queue_next(q);
        }

        last = q;

        b = ngx_alloc(size, ngx_cycle->log);
        if (b == NULL) {
            break;                  /* listed still: the next flush */
        }

        b->flusher = fl;
        b->call = NULL;
        b->nkeys = 0;
        b->nask = 0;
        b->taken = clock;
        p = (u_char *) b + sizeof(ngx_http_privacy_limit_batch_t);

        while (ngx_queue_head(&zone->sh->unsent) != last) {
            q = ngx_queue_head(&zone->sh->unsent);
            ln = ngx_queue_data(q, ngx_http_privacy_limit_node_t, unsent);

            i = b->nkeys++;
            b->key[i].data = p;
            b->key[i].len = ln->len;
            p = ngx_cpymem(p, ln->data, ln->len);
            b->hash[i] = ((ngx_rbtree_node_t *)
                             ((u_char *) ln
                              - offsetof(ngx_rbtree_node_t, color)))->key;
            b->count[i] = ln->pending;
            b->age[i] = clock > ln->first ? clock - ln->first : 0;
            b->alone[i] = ln->alone;
            b->over[i] = ln->over;

            ngx_queue_remove(q);
            ln->pending = 0;
            ln->over = 0;
        }

        while (b->nask < NGX_HTTP_PRIVACY_SYNC_ASK
               && !ngx_queue_empty(&zone->sh->asked))
        {
            q = ngx_queue_head(&zone->sh->asked);
            ln = ngx_queue_data(q, ngx_http_privacy_limit_node_t, unsent);

            b->ask[b->nask++] = ((ngx_rbtree_node_t *)
                                    ((u_char *) ln
                                     - offsetof(ngx_rbtree_node_t, color)))
                                ->key;

            ngx_queue_remove(q);
            ln->asked = 0;
        }

        fl->batch[n] = b;
    }

    return n;
}


/* a key's id in Redis: its hash in 16 hex digits, the highest first */

static u_char *
ngx_http_privacy_limit_sync_id(u_char *p, ngx_rbtree_key_t hash)
{
    ngx_uint_t  i;

    static const u_char  hex[] = "0123456789abcdef";

    for (i = 0; i < NGX_HTTP_PRIVACY_SYNC_ID_LEN; i++) {
        *p++ = hex[((uint64_t) hash >> (60 - 4 * i)) & 0xf];
    }

    return p;
}


/* one batch asked of Redis; NGX_DECLINED: not asked */

static ngx_int_t
ngx_http_privacy_limit_sync_send(ngx_http_privacy_limit_flusher_t *fl,
    ngx_http_privacy_limit_zone_t *zone, ngx_http_privacy_limit_batch_t *b)
{
    u_char      *p, *buf;
    size_t       size;
    ngx_int_t    rc;
    ngx_str_t   *keys, *args, *a;
    ngx_uint_t   i, nargs;
    ngx_msec_t   timeout;

    nargs = 7 + 5 * b->nkeys + b->nask;
    timeout = ngx_http_privacy_redis_timeout(fl->pmcf->redis);

    size = (b->nkeys + 2) * (NGX_HTTP_PRIVACY_LIMIT_REDIS_KEY_LEN(zone)
                             + sizeof(":shared") - 1)
           + b->nkeys * (4 * NGX_INT64_LEN + NGX_HTTP_PRIVACY_SYNC_ID_LEN)
           + b->nask * NGX_HTTP_PRIVACY_SYNC_ID_LEN
           + 6 * NGX_INT64_LEN + sizeof(zone->sh->id)
           + NGX_HTTP_PRIVACY_LIMIT_REDIS_KEY_LEN(zone)
           + (b->nkeys + 2 + nargs) * sizeof(ngx_str_t);

    buf = ngx_alloc(size, ngx_cycle->log);
    if (buf == NULL) {
        return NGX_DECLINED;
    }

    keys = (ngx_str_t *) buf;
    args = keys + b->nkeys + 2;
    p = (u_char *) (args + nargs);

    keys[0].data = p;
    p = ngx_sprintf(p, "privacy:{%V}:nodes", &zone->name);
    keys[0].len = p - keys[0].data;

    keys[1].data = p;
    p = ngx_sprintf(p, "privacy:{%V}:shared", &zone->name);
    keys[1].len = p - keys[1].data;

    a = args;

    a->data = p;
    p = ngx_http_privacy_decimal(p, zone->rate.interval);
    a->len = p - a->data;
    a++;

    /*
     * How long other nodes' charges of this interval may take to come:
     * an interval to be sent, one more out of step (the bound's two), and
     * as often an exchange's time, up to the timeout: a Redis far away
     * (a round trip longer than the interval) must not make every
     * exchange look held back by an outage.
     */
    a->data = p;
    p = ngx_http_privacy_decimal(p, 2 * (zone->sync_interval + timeout));
    a->len = p - a->data;
    a++;

    a->data = p;
    p = ngx_http_privacy_decimal(p, ngx_http_privacy_limit_sync_linger(zone));
    a->len = p - a->data;
    a++;

    a->data = zone->sh->id;
    a->len = sizeof(zone->sh->id);
    a++;

    /* the first call of a flush reads the shared keys, the others not:
       they would read what the calls before them wrote */
    a->data = p;
    p = b->read ? ngx_http_privacy_decimal(p, b->cursor)
                : ngx_cpymem(p, "-", 1);
    a->len = p - a->data;
    a++;

    a->data = p;
    p = ngx_sprintf(p, "privacy:{%V}:id:", &zone->name);
    a->len = p - a->data;
    a++;

    a->data = p;
    p = ngx_http_privacy_decimal(p, b->nask);
    a->len = p - a->data;
    a++;

    for (i = 0; i < b->nkeys; i++) {
        keys[2 + i].data = p;
        p = ngx_http_privacy_limit_redis_key(fl->pmcf, zone, &b->key[i], p);
        if (p == NULL) {
            ngx_free(buf);
            return NGX_DECLINED;
        }

        keys[2 + i].len = p - keys[2 + i].data;

        a->data = p;
        p = ngx_http_privacy_decimal(p, b->count[i]);
        a->len = p - a->data;
        a++;

        a->data = p;
        p = ngx_http_privacy_decimal(p, b->age[i] / 1000);
        a->len = p - a->data;
        a++;

        a->data = p;
        p = ngx_http_privacy_decimal(p, b->alone[i] > b->taken
                                        ? (b->alone[i] - b->taken) / 1000
                                        : 0);
        a->len = p - a->data;
        a++;

        a->data = (u_char *) (b->over[i] ? "1" : "0");
        a->len = 1;
        a++;

        a->data = p;
        p = ngx_http_privacy_limit_sync_id(p, b->hash[i]);
        a->len = p - a->data;
        a++;
    }

    for (i = 0; i < b->nask; i++) {
        a->data = p;
        p = ngx_http_privacy_limit_sync_id(p, b->ask[i]);
        a->len = p - a->data;
        a++;
    }

    b->call = ngx_http_privacy_redis_eval(fl->pmcf->redis,
                                          &ngx_http_privacy_limit_sync_script,
                                          b->nkeys + 2, keys, nargs, args,
                                          ngx_http_privacy_limit_sync_done,
                                          b, &b->index);
    rc = b->call ? NGX_OK : NGX_DECLINED;

    ngx_free(buf);

    return rc;
}


/*
 * Sends what is listed: the zone is locked, and unlocked here.  Only to a
 * Redis that is connected and answering, and not after an answer was
 * lost: then an exchange of no key asks first (and probes the breaker),
 * so that an outage costs at most one exchange's charges; until Redis
 * answers, the charges stay listed.
 */

static void
ngx_http_privacy_limit_sync_flush(ngx_http_privacy_limit_flusher_t *fl,
    ngx_http_privacy_limit_zone_t *zone, uint64_t now)
{
    uint64_t                         cursor;
    ngx_uint_t                       i, n;
    ngx_http_privacy_limit_batch_t  *b;

    zone->sh->flush_soon = 0;
    zone->sh->soon_next = ngx_current_msec
                          + ngx_max(zone->sync_interval / 16, 1);

    /* nothing listed, nothing to ask: still, a node that charged keys
       tells Redis it shares the zone and reads which keys are shared */
    if (ngx_queue_empty(&zone->sh->unsent)
        && ngx_queue_empty(&zone->sh->asked)
        && !zone->sh->active)
    {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return;
    }

    zone->sh->active = 0;
    cursor = zone->sh->cursor;

    /* claimed, until the answers come or time out (a worker that died
       with it claimed gives it up then too) */
    zone->sh->flush_busy = ngx_current_msec + zone->sync_interval
                           + ngx_http_privacy_redis_timeout(fl->pmcf->redis);
    zone->sh->flush_owner = ngx_pid;

    if (zone->sh->probe_only
        || !ngx_http_privacy_redis_usable(fl->pmcf->redis))
    {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        n = 0;

    } else {
        n = ngx_http_privacy_limit_sync_take(fl, zone);

        /* more than a flush carries: the rest soon, not an interval on */
        if (!ngx_queue_empty(&zone->sh->unsent)
            || !ngx_queue_empty(&zone->sh->asked))
        {
            zone->sh->flush_soon = 1;
        }

        ngx_shmtx_unlock(&zone->shpool->mutex);
    }

    if (n == 0) {
        /* Redis to be asked first, or nothing to send: no key */
        b = ngx_alloc(offsetof(ngx_http_privacy_limit_batch_t, key),
                      ngx_cycle->log);

        if (b == NULL) {
            ngx_http_privacy_limit_sync_finish(fl);
            return;
        }

        b->flusher = fl;
        b->call = NULL;
        b->nkeys = 0;
        b->nask = 0;
        b->taken = 0;
        fl->batch[0] = b;
        n = 1;
    }

    for (i = 0; i < n; i++) {
        fl->batch[i]->cursor = cursor;
        fl->batch[i]->read = (i == 0);
    }

    for (i = 0; i < n; i++) {
        if (ngx_http_privacy_limit_sync_send(fl, zone, fl->batch[i])
            == NGX_OK)
        {
            fl->outstanding++;
            continue;
        }

        /* Redis not asked (away, breaker open): listed again */
        ngx_http_privacy_limit_sync_relist(zone, fl->batch[i], now);
        ngx_free(fl->batch[i]);
        fl->batch[i] = NULL;
    }

    if (fl->outstanding == 0) {
        ngx_http_privacy_limit_sync_finish(fl);
        return;
    }

    ngx_add_timer(&fl->timeout,
                  ngx_http_privacy_redis_timeout(fl->pmcf->redis));
}


/* scheduling is on the monotonic clock that all workers share */

#define ngx_http_privacy_limit_after(a, b)  ((ngx_msec_int_t) ((a) - (b)) > 0)


static void
ngx_http_privacy_limit_sync_tick(ngx_event_t *ev)
{
    ngx_http_privacy_limit_zone_t     *zone;
    ngx_http_privacy_limit_flusher_t  *fl;

    fl = ev->data;
    zone = fl->shm_zone->data;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    ngx_add_timer(&fl->tick, zone->sync_interval);

    if (fl->outstanding) {
        return;                     /* this worker's flush is not over */
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    if ((zone->sh->flush_busy
         && ngx_http_privacy_limit_after(zone->sh->flush_busy,
                                         ngx_current_msec))
        || ngx_http_privacy_limit_after(zone->sh->flush_next,
                                        ngx_current_msec))
    {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return;                     /* another worker's, or not yet due */
    }

    /* a little early: timers of different workers do not tick in step */
    zone->sh->flush_next = ngx_current_msec + zone->sync_interval
                           - zone->sync_interval / 8;

    ngx_http_privacy_limit_sync_flush(fl, zone,
                                      ngx_http_privacy_limit_now());
}


static void
ngx_http_privacy_limit_sync_soon_handler(ngx_event_t *ev)
{
    ngx_msec_t                         wait;
    ngx_http_privacy_limit_zone_t     *zone;
    ngx_http_privacy_limit_flusher_t  *fl;

    fl = ev->data;
    zone = fl->shm_zone->data;

    if (ngx_exiting || ngx_terminate || ngx_quit || fl->outstanding) {
        return;                     /* this worker's flush reposts it */
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    if (!zone->sh->flush_soon
        || (zone->sh->flush_busy
            && ngx_http_privacy_limit_after(zone->sh->flush_busy,
                                            ngx_current_msec)))
    {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return;                     /* sent already, or the flush under
                                       way reposts it when it ends */
    }

    if (ngx_http_privacy_limit_after(zone->sh->soon_next, ngx_current_msec))
    {
        wait = zone->sh->soon_next - ngx_current_msec;
        ngx_shmtx_unlock(&zone->shpool->mutex);
        ngx_add_timer(&fl->soon, wait);
        return;
    }

    ngx_http_privacy_limit_sync_flush(fl, zone, ngx_http_privacy_limit_now());
}


/*
 * A batch whose answer was lost: counted, not sent again, and no more
 * charges are sent until Redis answers an exchange of no key.
 */

static void
ngx_http_privacy_limit_sync_lost(ngx_http_privacy_limit_flusher_t *fl,
    ngx_http_privacy_limit_batch_t *b)
{
    ngx_uint_t                      i, n;
    ngx_http_privacy_limit_zone_t  *zone;

    if (b->nkeys == 0 && b->nask == 0) {
        return;                     /* no key: nothing lost */
    }

    for (i = 0, n = 0; i < b->nkeys; i++) {
        n += b->count[i];
    }

    if (n) {
        ngx_http_privacy_status_sync(fl->pmcf, NGX_HTTP_PRIVACY_SYNC_LOST,
                                     n);
    }

    zone = fl->shm_zone->data;

    ngx_shmtx_lock(&zone->shpool->mutex);

    /* a question may be asked twice: it writes nothing */
    ngx_http_privacy_limit_sync_reask(zone, b);
    zone->sh->probe_only = 1;

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/*
 * Redis's refusals that come before a script writes anything: the
 * charges were not applied, and may be sent again.
 */

static ngx_uint_t
ngx_http_privacy_limit_sync_refused(redisReply *error)
{
    ngx_uint_t  i;
    size_t      n;

    static const char  *early[] = {
        "READONLY", "OOM", "MISCONF", "LOADING", "BUSY", "MASTERDOWN",
        "NOREPLICAS", "NOPERM", "NOAUTH", "NOSCRIPT",
        /* an ACL that does not allow a command the script calls (7.0,
           7.2): refused at the call, and the first write is such a
           call */
        "ERR The user executing the script can't run",
        "ERR ACL failure in script", NULL
    };

    for (i = 0; early[i]; i++) {
        n = ngx_strlen(early[i]);

        if ((size_t) error->len > n
            && ngx_strncmp(error->str, early[i], n) == 0
            && error->str[n] == ' ')
        {
            return 1;
        }
    }

    return 0;
}


/*
 * The connection was lost under a flush: its other calls are lost with
 * it, given up here at once, so that the breaker counts one failure for
 * the flush rather than one for each call.
 */

static void
ngx_http_privacy_limit_sync_abandon(ngx_http_privacy_limit_flusher_t *fl,
    ngx_http_privacy_limit_batch_t *lost)
{
    ngx_uint_t                       i;
    ngx_http_privacy_limit_batch_t  *b;

    for (i = 0; i < NGX_HTTP_PRIVACY_SYNC_CALLS; i++) {
        b = fl->batch[i];

        if (b == NULL || b == lost) {
            continue;
        }

        if (b->call) {
            ngx_http_privacy_redis_detach(b->call, b->index, 0);
        }

        ngx_http_privacy_limit_sync_lost(fl, b);

        fl->batch[i] = NULL;
        ngx_free(b);
        fl->outstanding--;
    }
}


/*
 * What Redis said of the zone (locked): how many nodes share it, and the
 * keys shared since this node last read, or asked about and shared:
 * their global state, and sent from now on.
 */

static void
ngx_http_privacy_limit_sync_shared(ngx_http_privacy_limit_zone_t *zone,
    redisReply *reply, ngx_http_privacy_limit_batch_t *b, uint64_t now)
{
    u_char                          *id;
    uint32_t                         n;
    uint64_t                         hash, tat, linger, clock;
    ngx_int_t                        d;
    ngx_uint_t                       i, j;
    ngx_http_privacy_limit_node_t   *ln;
    ngx_http_privacy_limit_heard_t  *heard;

    zone->sh->nodes = (ngx_uint_t) reply->element[b->nkeys]->integer;

    if ((uint64_t) reply->element[b->nkeys + 1]->integer > zone->sh->cursor)
    {
        zone->sh->cursor = reply->element[b->nkeys + 1]->integer;
    }

    linger = (uint64_t) ngx_http_privacy_limit_sync_linger(zone) * 1000000;
    clock = ngx_http_privacy_limit_sync_clock();

    for (i = b->nkeys + 2; i < reply->elements; i += 2) {
        id = (u_char *) reply->element[i]->str;
        hash = 0;

        for (j = 0; j < NGX_HTTP_PRIVACY_SYNC_ID_LEN; j++) {
            d = ngx_hextoi(&id[j], 1);
            if (d == NGX_ERROR) {
                break;
            }

            hash = (hash << 4) | (uint64_t) d;
        }

        if (j < NGX_HTTP_PRIVACY_SYNC_ID_LEN) {
            continue;               /* not an id of ours */
        }

        ln = ngx_http_privacy_limit_sync_find(zone, (ngx_rbtree_key_t) hash);

        if (ln == NULL) {
            /* not here yet: kept a while, so that a key new here is
               known shared at once, not asked about */
            if (zone->sh->heard == NULL) {
                zone->sh->heard = ngx_slab_calloc_locked(zone->shpool,
                                      NGX_HTTP_PRIVACY_LIMIT_HEARD
                                      * sizeof(ngx_http_privacy_limit_heard_t));
                if (zone->sh->heard == NULL) {
                    continue;       /* asked about instead */
                }
            }

            heard = &zone->sh->heard[hash % NGX_HTTP_PRIVACY_LIMIT_HEARD];
            heard->id = (ngx_rbtree_key_t) hash;
            heard->tat = now + (uint64_t) reply->element[i + 1]->integer
                               * 1000;
            heard->until = now + linger;
            continue;
        }

        if (ln->shared <= now && zone->sh->nodes) {
            /* its charges still in this node's share go with the next */
            ngx_http_privacy_limit_sync_rescale(ln, zone->sh->nodes, now);
            n = ngx_http_privacy_limit_sync_in_share(ln, now,
                                                     zone->rate.interval
                                                     * zone->sh->nodes);
            ln->kept = 0;

            if (n) {
                ln->checked = 1;
                ngx_http_privacy_limit_unsent(zone, ln, n, 0, 0);
            }
        }

        ln->shared = now + linger;

        /*
         * The global state, and what this node's listed charges still
         * owe by themselves: listed, they may be an outage's, made long
         * ago, and owe nothing by now (counted an interval each, they
         * refused a user under the rate for seconds)
         */
        tat = now + (uint64_t) reply->element[i + 1]->integer * 1000
              + ((ln->pending && ln->alone > clock) ? ln->alone - clock : 0);

        if (tat > ln->tat) {
            ln->tat = tat;
        }
    }
}


/* Redis answered a batch, or its call failed: from hiredis's callback */

static void
ngx_http_privacy_limit_sync_done(void *data, void *r)
{
    redisReply                        *reply = r, *e;
    uint64_t                           now, owed, tat;
    ngx_uint_t                         i, ok;
    ngx_http_privacy_limit_node_t     *ln;
    ngx_http_privacy_limit_zone_t     *zone;
    ngx_http_privacy_limit_batch_t    *b = data;
    ngx_http_privacy_limit_flusher_t  *fl;

    fl = b->flusher;
    zone = fl->shm_zone->data;
    now = ngx_http_privacy_limit_now();

    /* owed per key sent, nodes, the time read, then (id, owed) pairs */
    ok = reply && reply->type == REDIS_REPLY_ARRAY
         && reply->elements >= b->nkeys + 2
         && (reply->elements - b->nkeys) % 2 == 0;

    for (i = 0; ok && i < reply->elements; i++) {
        e = reply->element[i];

        if (i >= b->nkeys + 2 && (i - b->nkeys) % 2 == 0) {
            ok = e->type == REDIS_REPLY_STRING
                 && e->len == NGX_HTTP_PRIVACY_SYNC_ID_LEN;
            continue;
        }

        ok = e->type == REDIS_REPLY_INTEGER && e->integer >= 0
             && e->integer < (1LL << 53);   /* 285 years: not a value */
    }

    ok = ok && reply->element[b->nkeys]->integer > 0;

    if (ok) {
        ngx_shmtx_lock(&zone->shpool->mutex);

        for (i = 0; i < b->nkeys; i++) {
            ln = ngx_http_privacy_limit_lookup(zone, &b->key[i], b->hash[i]);

            if (ln == NULL) {
                continue;           /* expired here: Redis holds it */
            }

            /*
             * The global state, and what this node charged since; never
             * less than this node's own count (Redis may lack some of
             * it: an answer lost, a Redis restarted empty)
             */
            owed = (uint64_t) reply->element[i]->integer * 1000;
            tat = now + owed + (uint64_t) ln->pending * zone->rate.interval;

            if (tat > ln->tat) {
                ln->tat = tat;
            }
        }

        ngx_http_privacy_limit_sync_shared(zone, reply, b, now);

        if (b->nkeys == 0 && b->nask == 0 && zone->sh->probe_only) {
            /* Redis answers again: what is listed goes at once */
            zone->sh->probe_only = 0;
            zone->sh->flush_soon = 1;
        }

        ngx_shmtx_unlock(&zone->shpool->mutex);

        ngx_http_privacy_status_sync(fl->pmcf, NGX_HTTP_PRIVACY_SYNC_KEYS,
                                     b->nkeys);

    } else if (reply && reply->type == REDIS_REPLY_ERROR
               && ngx_http_privacy_limit_sync_refused(reply))
    {
        /* refused before anything was written: listed again, and asked
           again first by an exchange of no key, which writes too */
        ngx_http_privacy_limit_sync_relist(zone, b, now);

        ngx_shmtx_lock(&zone->shpool->mutex);
        zone->sh->probe_only = 1;
        ngx_shmtx_unlock(&zone->shpool->mutex);

    } else {
        if (reply && reply->type != REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "privacy: unexpected reply from redis");
        }

        ngx_http_privacy_limit_sync_lost(fl, b);

        if (reply == NULL) {
            ngx_http_privacy_limit_sync_abandon(fl, b);
        }
    }

    for (i = 0; i < NGX_HTTP_PRIVACY_SYNC_CALLS; i++) {
        if (fl->batch[i] == b) {
            fl->batch[i] = NULL;
            break;
        }
    }

    ngx_free(b);

    if (--fl->outstanding == 0) {
        ngx_http_privacy_limit_sync_finish(fl);
    }
}


/* Redis did not answer in time: the flush is given up, not sent again */

static void
ngx_http_privacy_limit_sync_timeout(ngx_event_t *ev)
{
    ngx_uint_t                         i, n, index;
    ngx_http_privacy_limit_batch_t    *b, *taken[NGX_HTTP_PRIVACY_SYNC_CALLS];
    ngx_http_privacy_redis_call_t     *call;
    ngx_http_privacy_limit_flusher_t  *fl;

    fl = ev->data;

    ngx_log_error(NGX_LOG_WARN, ev->log, 0,
                  "privacy: redis did not answer a limit sync in time");

    /*
     * Every batch off the flusher and every call detached first: the
     * breaker's failure may free the connection, and hiredis then calls
     * back each call still pending, from within it.
     */

    n = 0;
    index = 0;
    call = NULL;

    for (i = 0; i < NGX_HTTP_PRIVACY_SYNC_CALLS; i++) {
        b = fl->batch[i];

        if (b == NULL) {
            continue;
        }

        fl->batch[i] = NULL;
        taken[n++] = b;

        if (b->call) {
            ngx_http_privacy_redis_detach(b->call, b->index, 0);
            call = b->call;
            index = b->index;
        }
    }

    fl->outstanding = 0;

    /* one failure for the breaker, however many calls it took */
    if (call) {
        ngx_http_privacy_redis_detach(call, index, 1);
    }

    for (i = 0; i < n; i++) {
        ngx_http_privacy_limit_sync_lost(fl, taken[i]);
        ngx_free(taken[i]);
    }

    ngx_http_privacy_limit_sync_finish(fl);
}
