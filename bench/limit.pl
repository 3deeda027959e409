#!/usr/bin/perl

# The rate limiter's cost, side by side in one run: a small static file
# served bare, under nginx's own limit_req, under privacy_limit with a
# local zone, with an exact sync=redis zone (Redis asked on every
# request) and with a sync=redis sync_interval=50ms zone (decided
# locally, charges exchanged with Redis once per interval), a real
# redis-server on loopback on the same two cores, all at a rate that
# never rejects.  Each twice: one client address (a hot key) and 100,000
# users (a different key almost every request); at 8 connections and at
# 256 (a busy edge).  wrk rows with an A/A control, the p50/p99 latency
# each Redis zone adds, Redis's own CPU per request and requests per
# EVALSHA, and callgrind's instructions per request.  Then what the
# interval buys that with: over-admission of three nodes of two workers
# sharing one Redis, a hot key and 100 users hammered on all three at
# once, against the exact count, the stated bound, a local zone without
# sync and the exact sync=redis zone.

use strict;
use warnings;

use lib 't/lib', 'bench';
use PETest;
use PEBench;
use Time::HiRes ();

# the users zones are larger: 100,000 keys must fit without evictions
my $http = <<'NGX';
    access_log off;

    limit_req_zone $binary_remote_addr zone=nginx_req:10m rate=1000000r/s;
    limit_req_zone $http_x_user zone=nginx_req_users:32m rate=1000000r/s;
    privacy_limit_zone $binary_remote_addr zone=privacy:10m rate=1000000r/s;
    privacy_limit_zone $http_x_user zone=privacy_users:32m
                       rate=1000000r/s;
    privacy_limit_zone $binary_remote_addr zone=synced:10m rate=1000000r/s
                       sync=redis;
    privacy_limit_zone $http_x_user zone=users:32m rate=1000000r/s
                       sync=redis;
    privacy_limit_zone $binary_remote_addr zone=interval:10m
                       rate=1000000r/s sync=redis sync_interval=50ms;
    privacy_limit_zone $http_x_user zone=interval_users:32m
                       rate=1000000r/s sync=redis sync_interval=50ms;

    privacy_redis 127.0.0.1:%%PORT_redis%% timeout=1s fail=closed;

    server {
        listen 127.0.0.1:%%PORT%% backlog=1024;

        location /bare/ {
            alias %%DIR%%/www/;
        }

        location /control/ {
            alias %%DIR%%/www/;
        }

        location /limit_req/ {
            limit_req zone=nginx_req burst=1000 nodelay;
            alias %%DIR%%/www/;
        }

        location /limit_req_users/ {
            limit_req zone=nginx_req_users burst=1000 nodelay;
            alias %%DIR%%/www/;
        }

        location /privacy_limit/ {
            privacy_limit zone=privacy burst=1000 nodelay;
            alias %%DIR%%/www/;
        }

        location /privacy_limit_users/ {
            privacy_limit zone=privacy_users burst=1000 nodelay;
            alias %%DIR%%/www/;
        }

        location /redis/ {
            privacy_limit zone=synced burst=1000 nodelay;
            alias %%DIR%%/www/;
        }

        location /users/ {
            privacy_limit zone=users burst=1000 nodelay;
            alias %%DIR%%/www/;
        }

        location /interval/ {
            privacy_limit zone=interval burst=1000 nodelay;
            alias %%DIR%%/www/;
        }

        location /interval_users/ {
            privacy_limit zone=interval_users burst=1000 nodelay;
            alias %%DIR%%/www/;
        }
    }
NGX

sub setup {
    my ($t) = @_;
    PEBench::static_site($t);
    $t->redis;
}

my $started = Time::HiRes::time();
my $b = PEBench->new(http => $http, setup => \&setup);
my $users = 'bench/users.lua';

$b->header('privacy-edge rate limits, 600 B file, a rate never reached');
$b->compare('control: bare vs bare (A/A)', '/bare/', '/control/');

# every limit against bare in the same rounds, so that their ratios to
# one another (the interval zone against limit_req) come from the same
# noise as their ratios to bare
for my $conns (8, 256) {
    for my $kind (['hot key', '', undef], ['100k users', '_users', $users]) {
        my ($what, $sfx, $script) = @$kind;
        my %opt = (conns => $conns, $script ? (script => $script) : ());
        my %uri = (limit_req => "/limit_req$sfx/",
                   local => "/privacy_limit$sfx/",
                   exact => $sfx ? '/users/' : '/redis/',
                   interval => "/interval$sfx/");
        print "-- $what, c=$conns, each vs bare\n";
        my $m = $b->compare_set('/bare/', [
            ['  limit_req', $uri{limit_req}],
            ['  privacy_limit, local zone', $uri{local}],
            ['  sync=redis (exact)', $uri{exact}],
            ['  sync=redis sync_interval=50ms', $uri{interval}],
        ], %opt);
        my $rounds = $b->{rounds_rps};
        printf "%-34s %8.1f req/s vs %8.1f req/s   ratio %s\n",
               '  sync_interval vs limit_req', $m->{$uri{interval}},
               $m->{$uri{limit_req}},
               PEBench::paired($rounds->{$uri{limit_req}},
                               $rounds->{$uri{interval}});
    }
}

# 100k users: a new key almost every request, the worst case for the
# interval zone (every key is new to the node and is asked about, and
# would be written were it over the node's share); the hot key beside it
print "-- latency, c=$b->{conns}\n";
$b->latency_set('/bare/', [
    ['  sync=redis (exact), 100k users', '/users/'],
    ['  sync_interval, 100k users', '/interval_users/'],
    ['  sync_interval, hot key', '/interval/'],
], script => $users);

my $redis_pid = $b->t->{redis_pid}{redis};

# Redis's CPU seconds (user + system) from /proc, as for the worker
sub redis_cpu {
    open(my $fh, '<', "/proc/$redis_pid/stat") or return 0;
    my @f = split ' ', scalar <$fh>;
    return ($f[13] + $f[14]) / 100;
}

sub evalsha_calls {
    my $info = $b->t->redis_query($b->t->port('redis'),
                                  ['INFO', 'commandstats']) // '';
    return ($info =~ /^cmdstat_evalsha:calls=(\d+)/m)[0] // 0;
}

# one wrk run of a Redis location: Redis CPU per request, requests per call
sub redis_cost {
    my ($label, $uri, %opt) = @_;
    my ($cpu, $calls) = (redis_cpu(), evalsha_calls());
    my $t0 = Time::HiRes::time();
    my ($rps) = $b->wrk($uri, %opt);
    my $n = $rps * (Time::HiRes::time() - $t0);
    ($cpu, $calls) = (redis_cpu() - $cpu, evalsha_calls() - $calls);
    printf "%-34s Redis CPU %.2f us/req, %.1f requests per EVALSHA "
           . "(%d calls)\n",
           $label, $cpu / $n * 1e6, $calls ? $n / $calls : 0, $calls;
}

print "-- Redis's cost\n";
for my $conns (8, 256) {
    redis_cost("  exact, hot key, c=$conns", '/redis/', conns => $conns);
    redis_cost("  exact, 100k users, c=$conns", '/users/', conns => $conns,
               script => $users);
    redis_cost("  interval, hot key, c=$conns", '/interval/',
               conns => $conns);
    redis_cost("  interval, 100k users, c=$conns", '/interval_users/',
               conns => $conns, script => $users);
}

# the interval zone's flushes run on a timer, so its count may vary by
# the flushes that fall inside the runs; the others repeat exactly
my $ir = $b->callgrind(200, sub {
    my ($port, $uri) = @_;
    return http_get($port, $uri)->{status} == 200;
}, '/bare/', '/limit_req/', '/privacy_limit/', '/redis/', '/interval/');
if ($ir) {
    PEBench::callgrind_row('callgrind, limit_req:', $ir->{'/bare/'},
                           $ir->{'/limit_req/'});
    PEBench::callgrind_row('callgrind, privacy_limit:', $ir->{'/bare/'},
                           $ir->{'/privacy_limit/'});
    PEBench::callgrind_row('callgrind, sync=redis:', $ir->{'/bare/'},
                           $ir->{'/redis/'});
    PEBench::callgrind_row('callgrind, sync_interval:', $ir->{'/bare/'},
                           $ir->{'/interval/'});
}

$b->t->nginx_stop_quiet;

# --- accuracy: three nodes, one Redis ----------------------------------

# Three nodes of two workers sharing the Redis above, each hammered by one
# keep-alive client at once.  A node decides alone between flushes and
# sees the others' charges one to two intervals late, so each other node
# may pass, per key, two intervals at the rate plus its own first burst:
# the bound is
# exact + (N - 1) x (rate x 2 x interval + burst + 1).
my $rport = $b->t->port('redis');
my $node_http = <<'NGX';
    privacy_redis 127.0.0.1:%%REDIS%% timeout=200ms fail=closed;

    privacy_limit_zone $http_x_user zone=hot:1m rate=20r/s
                       sync=redis sync_interval=50ms;
    privacy_limit_zone $http_x_user zone=quota:4m rate=1r/m
                       sync=redis sync_interval=50ms;
    privacy_limit_zone $http_x_user zone=exact_hot:1m rate=20r/s
                       sync=redis;
    privacy_limit_zone $http_x_user zone=exact_quota:4m rate=1r/m
                       sync=redis;
    privacy_limit_zone $http_x_user zone=alone:1m rate=20r/s;
    privacy_limit_zone $http_x_user zone=alone_quota:4m rate=1r/m;

    access_log off;
    keepalive_requests 1000000;

    server {
        listen 127.0.0.1:%%PORT%%;

        location /hot/ {
            privacy_limit zone=hot burst=5 nodelay;
            alias %%DIR%%/www/;
        }

        location /quota/ {
            privacy_limit zone=quota burst=2 nodelay;
            alias %%DIR%%/www/;
        }

        location /exact_hot/ {
            privacy_limit zone=exact_hot burst=5 nodelay;
            alias %%DIR%%/www/;
        }

        location /exact_quota/ {
            privacy_limit zone=exact_quota burst=2 nodelay;
            alias %%DIR%%/www/;
        }

        location /alone/ {
            privacy_limit zone=alone burst=5 nodelay;
            alias %%DIR%%/www/;
        }

        location /alone_quota/ {
            privacy_limit zone=alone_quota burst=2 nodelay;
            alias %%DIR%%/www/;
        }
    }
NGX
$node_http =~ s/%%REDIS%%/$rport/;

my @nodes = map {
    my $n = PETest->new;
    mkdir $n->dir . '/www';
    chmod 0755, $n->dir . '/www';
    $n->write_file('www/x', 'x');
    $n->nginx_start($node_http, workers => 2);
    $n;
} 1 .. 3;
my @port = map { $_->port } @nodes;

# one line: admitted against the exact count and the bound
sub accuracy {
    my ($label, $uri, $users, $secs, $exact, $bound) = @_;
    # one keep-alive client per node at once; a refusal closes the
    # connection (Connection: close) and the client connects again
    my ($ok, $no) = hammer_nodes($nodes[0]->dir, \@port, $uri, $users,
                                 $secs);
    printf "%-34s admitted %5d (%6d refused), exact %4d, bound %4d: "
           . "ratio %.2f%s\n", $label, $ok, $no, $exact, $bound,
           $ok / $exact, $ok > $bound ? ', over the bound' : '';
}

my ($secs, $n) = (3, scalar @nodes);
my $hot_exact = 20 * $secs + 5 + 1;
my $hot_bound = $hot_exact + ($n - 1) * (20 * 2 * 0.05 + 5 + 1);
my @crowd = map { "crowd$_" } 1 .. 100;
my $crowd_exact = 100 * (int(1 / 60 * $secs) + 2 + 1);
my $crowd_bound = $crowd_exact
                  + 100 * ($n - 1) * int(1 / 60 * 2 * 0.05 + 2 + 1);

printf "# accuracy: %d nodes of 2 workers, one Redis, %d s at once, "
       . "one keep-alive client per node\n", $n, $secs;
print "-- a hot key, rate=20r/s burst=5 nodelay\n";
accuracy('  sync_interval=50ms', '/hot/x', ['hot'], $secs,
         $hot_exact, $hot_bound);
accuracy('  sync=redis (exact)', '/exact_hot/x', ['hot'], $secs,
         $hot_exact, $hot_bound);
accuracy('  local zone, no sync', '/alone/x', ['hot'], $secs,
         $hot_exact, $hot_bound);
print "-- 100 users, rate=1r/m burst=2 nodelay\n";
accuracy('  sync_interval=50ms', '/quota/x', \@crowd, $secs,
         $crowd_exact, $crowd_bound);
accuracy('  sync=redis (exact)', '/exact_quota/x', \@crowd, $secs,
         $crowd_exact, $crowd_bound);
accuracy('  local zone, no sync', '/alone_quota/x', \@crowd, $secs,
         $crowd_exact, $crowd_bound);

$_->nginx_stop_quiet for @nodes;
printf "# bench/limit.pl took %.0f s\n", Time::HiRes::time() - $started;
