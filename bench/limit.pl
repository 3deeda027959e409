#!/usr/bin/perl

# The local rate limiter's cost, side by side in one run: a small static
# file served bare, under nginx's own limit_req, and under privacy_limit,
# both at a rate that never rejects.  wrk rows with an A/A control, and
# callgrind's instructions per request.  (The Redis-synced zone is not
# built yet: see the README.)

use strict;
use warnings;

use lib 't/lib', 'bench';
use PETest;
use PEBench;

my $http = <<'NGX';
    access_log off;

    limit_req_zone $binary_remote_addr zone=nginx_req:10m rate=1000000r/s;
    privacy_limit_zone $binary_remote_addr zone=privacy:10m rate=1000000r/s;

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
    }
NGX


my $b = PEBench->new(http => $http, setup => \&PEBench::static_site);

$b->header('privacy-edge local rate limit, 600 B file, a rate never reached');
$b->compare('control: bare vs bare (A/A)', '/bare/', '/control/');
$b->compare('limit_req vs bare', '/bare/', '/limit_req/');
$b->compare('privacy_limit vs bare', '/bare/', '/privacy_limit/');
$b->compare('privacy_limit vs limit_req', '/limit_req/', '/privacy_limit/');

my $ir = $b->callgrind(200, sub {
    my ($port, $uri) = @_;
    return http_get($port, $uri)->{status} == 200;
}, '/bare/', '/limit_req/', '/privacy_limit/');
if ($ir) {
    PEBench::callgrind_row('callgrind, limit_req:', $ir->{'/bare/'},
                           $ir->{'/limit_req/'});
    PEBench::callgrind_row('callgrind, privacy_limit:', $ir->{'/bare/'},
                           $ir->{'/privacy_limit/'});
}

$b->t->nginx_stop_quiet;
