#!/usr/bin/perl

# The rate limiter's cost, side by side in one run: a small static file
# served bare, under nginx's own limit_req, under privacy_limit with a
# local zone, and under privacy_limit with a sync=redis zone (a real
# redis-server on loopback, one Lua call per request), all at a rate that
# never rejects.  wrk rows with an A/A control, the p99 latency the Redis
# round trip adds, and callgrind's instructions per request.

use strict;
use warnings;

use lib 't/lib', 'bench';
use PETest;
use PEBench;

my $http = <<'NGX';
    access_log off;

    limit_req_zone $binary_remote_addr zone=nginx_req:10m rate=1000000r/s;
    privacy_limit_zone $binary_remote_addr zone=privacy:10m rate=1000000r/s;
    privacy_limit_zone $binary_remote_addr zone=synced:10m rate=1000000r/s
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
$b->compare('sync=redis vs bare', '/bare/', '/redis/');
$b->latency('latency, sync=redis vs bare', '/bare/', '/redis/');

# every request went through Redis: none failed open or closed
my $calls = $b->t->redis_query($b->t->port('redis'),
                               ['INFO', 'commandstats']) // '';
my ($evalsha) = $calls =~ /^cmdstat_evalsha:calls=(\d+)/m;
printf "%-34s %d EVALSHA calls answered by Redis\n", '  Redis', $evalsha // 0;

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
