#!/usr/bin/perl

# The rate limiter's cost, side by side in one run: a small static file
# served bare, under nginx's own limit_req, under privacy_limit with a
# local zone, and under privacy_limit with a sync=redis zone (a real
# redis-server on loopback, on the same two cores), all at a rate that
# never rejects.  The Redis rows twice: one client address (a hot key,
# whose requests of one event loop cycle share a Redis call) and 100,000
# users (a different key almost every request, one call each); at 8
# connections and at 256 (a busy edge).  wrk rows with an A/A control,
# the p99 latency the Redis round trip adds, Redis's own CPU per request,
# and callgrind's instructions per request.

use strict;
use warnings;

use lib 't/lib', 'bench';
use PETest;
use PEBench;
use Time::HiRes ();

my $http = <<'NGX';
    access_log off;

    limit_req_zone $binary_remote_addr zone=nginx_req:10m rate=1000000r/s;
    privacy_limit_zone $binary_remote_addr zone=privacy:10m rate=1000000r/s;
    privacy_limit_zone $binary_remote_addr zone=synced:10m rate=1000000r/s
                       sync=redis;
    privacy_limit_zone $http_x_user zone=users:10m rate=1000000r/s
                       sync=redis;

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

        location /privacy_limit/ {
            privacy_limit zone=privacy burst=1000 nodelay;
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
    }
NGX

sub setup {
    my ($t) = @_;
    PEBench::static_site($t);
    $t->redis;
}

my $b = PEBench->new(http => $http, setup => \&setup);

$b->header('privacy-edge rate limits, 600 B file, a rate never reached');
$b->compare('control: bare vs bare (A/A)', '/bare/', '/control/');
$b->compare('limit_req vs bare', '/bare/', '/limit_req/');
$b->compare('privacy_limit vs bare', '/bare/', '/privacy_limit/');
$b->compare('privacy_limit vs limit_req', '/limit_req/', '/privacy_limit/');
my $users = 'bench/users.lua';
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
    printf "%-34s Redis CPU %.1f us/req, %.1f requests per EVALSHA\n",
           $label, $cpu / $n * 1e6, $calls ? $n / $calls : 0;
}

for my $conns (8, 256) {
    $b->compare("sync=redis, hot key, c=$conns", '/bare/', '/redis/',
                conns => $conns);
    $b->compare("sync=redis, 100k users, c=$conns", '/bare/', '/users/',
                conns => $conns, script => $users);
    redis_cost("  hot key, c=$conns", '/redis/', conns => $conns);
    redis_cost("  100k users, c=$conns", '/users/', conns => $conns,
               script => $users);
}

$b->latency('latency, sync=redis vs bare, c=8', '/bare/', '/users/',
            script => $users);

my $ir = $b->callgrind(200, sub {
    my ($port, $uri) = @_;
    return http_get($port, $uri)->{status} == 200;
}, '/bare/', '/limit_req/', '/privacy_limit/', '/redis/');
if ($ir) {
    PEBench::callgrind_row('callgrind, limit_req:', $ir->{'/bare/'},
                           $ir->{'/limit_req/'});
    PEBench::callgrind_row('callgrind, privacy_limit:', $ir->{'/bare/'},
                           $ir->{'/privacy_limit/'});
    PEBench::callgrind_row('callgrind, sync=redis:', $ir->{'/bare/'},
                           $ir->{'/redis/'});
}

$b->t->nginx_stop_quiet;
