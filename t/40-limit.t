#!/usr/bin/perl

# Local rate limits: exact counts at the edge of a burst, across two
# workers; several zones on one location, all of which must pass, and a
# refused request charges none of them; 429 rate_limited with Retry-After;
# RateLimit-Policy and RateLimit on every response of a limited location;
# delays without nodelay; $privacy_limit_status; bad arguments refused.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);

use lib 't/lib';
use PETest;

my $t = PETest->new;
$t->upstream('app');

mkdir $t->dir . '/www';
chmod 0755, $t->dir . '/www';
$t->write_file('www/index.html', "<p>ok</p>\n");

$t->nginx_start(<<'EOF', workers => 2);
    privacy_limit_zone $binary_remote_addr zone=per_ip:1m rate=1r/m;
    privacy_limit_zone $http_x_user zone=per_user:1m rate=10r/m;
    privacy_limit_zone "all" zone=global:1m rate=2r/m;
    privacy_limit_zone $http_x_user zone=paced:1m rate=10r/s;
    privacy_limit_zone $http_x_user zone=daily:1m rate=3r/d;
    privacy_limit_zone $http_x_user zone=tiny:32k rate=1r/m;
    privacy_limit_zone $http_x_user zone=writes:1m rate=1r/m;

    log_format limits '$request_uri $status $privacy_limit_status';

    server {
        listen 127.0.0.1:%%PORT%%;
        access_log %%DIR%%/limits.log limits;

        # only writing methods are charged: reading is free
        location /writes {
            limit_except GET {
                privacy_limit zone=writes burst=1 nodelay;
            }
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }

        location /burst {
            privacy_limit zone=per_ip burst=4 nodelay;
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }

        location /two {
            privacy_limit zone=per_user burst=9 nodelay;
            privacy_limit zone=global burst=1 nodelay;
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }

        location /user {
            privacy_limit zone=per_user burst=9 nodelay;
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }

        location /paced {
            privacy_limit zone=paced burst=5;
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }

        location /daily {
            privacy_limit zone=daily burst=2 nodelay;
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }

        location /tiny {
            privacy_limit zone=tiny nodelay;
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }

        # a directory: the index module redirects to /site/index.html
        location /site/ {
            privacy_limit zone=per_user burst=9 nodelay;
            alias %%DIR%%/www/;
        }

        location = /status {
            privacy_status;
        }
    }
EOF

my $port = $t->port;

# an internal redirect (here the index) does not charge the request twice
my @site = map { http_get($port, '/site/', 'X-User' => 'indexed') } 1 .. 2;
is_deeply([map { $_->{headers}{ratelimit} } @site],
          ['"per_user";r=9;t=6', '"per_user";r=8;t=12'],
          'a directory request (redirected to its index) is charged once');

# burst 4 at 1r/m: exactly five pass, over new connections spread across
# both workers, then 429
my @st;
for (1 .. 8) {
    push @st, http_get($port, '/burst')->{status};
}
is_deeply(\@st, [200, 200, 200, 200, 200, 429, 429, 429],
          'burst=4: exactly five pass across two workers, then 429');

my $r = http_get($port, '/burst');
is($r->{status}, 429, 'still refused');
is($r->{headers}{'retry-after'}, 60, 'Retry-After: 60 (one per minute)');
is($r->{body}, qq({"error":"rate_limited","limit":"per_ip","retry_after":60}\n),
   'the JSON names the limit and when to retry');
is($r->{headers}{'privacy-reason'}, 'rate_limited', 'Privacy-Reason');
is($r->{headers}{'ratelimit-policy'}, '"per_ip";q=1;w=60',
   'RateLimit-Policy: one per 60 s');
is($r->{headers}{'ratelimit'}, '"per_ip";r=0;t=300',
   'RateLimit: none left, full again in 300 s');

# headers on passing responses count down
$r = http_get($port, '/user', 'X-User' => 'alice');
is($r->{headers}{'ratelimit'}, '"per_user";r=9;t=6',
   'first of alice: 9 left');
$r = http_get($port, '/user', 'X-User' => 'alice');
is($r->{headers}{'ratelimit'}, '"per_user";r=8;t=12', 'second: 8 left');

# two zones, both must pass; the refused request charges neither
for (1 .. 2) {
    $r = http_get($port, '/two', 'X-User' => 'bob');
    is($r->{status}, 200, 'bob passes both zones');
}
is($r->{headers}{'ratelimit-policy'},
   '"per_user";q=10;w=60, "global";q=2;w=60', 'both policies named');
$r = http_get($port, '/two', 'X-User' => 'bob');
is($r->{status}, 429, 'the global zone refuses the third');
like($r->{body}, qr/"limit":"global"/, '... and says it was global');
$r = http_get($port, '/user', 'X-User' => 'bob');
is($r->{headers}{'ratelimit'}, '"per_user";r=7;t=18',
   'bob\'s own zone was charged twice, not three times');

# no key, no limit
$r = http_get($port, '/user') for 1 .. 15;
is($r->{status}, 200, 'an empty key is not limited');

# without nodelay the burst is spread out at the rate
my $t0 = time;
my @paced = map { http_get($port, '/paced', 'X-User' => 'carol')->{status} }
            1 .. 4;
my $took = time - $t0;
is_deeply(\@paced, [200, 200, 200, 200], 'paced: all four pass');
ok($took >= 0.28 && $took < 2, sprintf('... held to 10r/s: %.2f s', $took));

# a daily quota
@st = map { http_get($port, '/daily', 'X-User' => 'dave')->{status} } 1 .. 4;
is_deeply(\@st, [200, 200, 200, 429], '3r/d burst 2: three, then 429');
$r = http_get($port, '/daily', 'X-User' => 'dave');
ok($r->{headers}{'retry-after'} > 28000, 'retry in about 8 hours: '
   . $r->{headers}{'retry-after'} . ' s');

# a full zone makes room by expiring its oldest keys: far more keys than
# 32 KiB holds all pass, with no alert
my $ok = 0;
for my $i (1 .. 1500) {
    $ok++ if http_get($port, '/tiny', 'X-User' => "user-$i")->{status} == 200;
}
is($ok, 1500, '1500 keys through a 32 KiB zone: room is made for each');

# the zone's keys survive a reload: asked once new workers run
my $workers = sub { scalar(() = $t->error_log =~ /start worker process \d+/g) };
my $started = $workers->();
$t->nginx_signal('HUP');
for (1 .. 100) {
    last if $workers->() >= $started + 2;
    select(undef, undef, undef, 0.05);
}
is($workers->(), $started + 2, 'nginx -s reload started two new workers');
select(undef, undef, undef, 0.5);   # the old workers stop accepting
is(http_get($port, '/burst')->{status}, 429,
   'after the reload the exhausted key is still refused');

# the outcomes, counted by both workers in shared memory
$r = status_settled($port, '/status');
my ($limits) = $r->{body} =~ /"limits":(\{[^}]*\})/;
like($limits, qr/^\{"passed":(\d+),"delayed":3,"rejected":(\d+),"error":0\}$/,
   'privacy_status counts by outcome');
my ($passed, $rejected) = $limits =~ /"passed":(\d+).*"rejected":(\d+)/;
is($passed, 16 + 1500, '... 16 + 1500 passed');
is($rejected, 8, '... 8 rejected (7, and the one after the reload)');
like(http_get($port, '/status?format=prometheus')->{body},
     qr/^privacy_limit_requests_total\{outcome="rejected"\} $rejected$/m,
     '... in Prometheus text too');

# privacy_limit inside limit_except: reading never spends the quota
my @reads = map { http_get($port, '/writes', 'X-User' => 'w')->{status} }
            1 .. 6;
is("@reads", '200 200 200 200 200 200', 'six GETs: none charged');
$r = http_get($port, '/writes', 'X-User' => 'w');
ok(!defined $r->{headers}{ratelimit}, '... and they carry no RateLimit');
my @writes = map { http_post($port, '/writes', 'x', 'X-User' => 'w')->{status} }
             1 .. 3;
is("@writes", '200 200 429', 'POSTs: burst 1 at 1r/m, then 429');
is(http_get($port, '/writes', 'X-User' => 'w')->{status}, 200,
   'a GET after the writes are exhausted still passes');

$t->nginx_stop;

my $log = $t->read_file('limits.log');
like($log, qr{^/burst 200 PASSED$}m, '$privacy_limit_status PASSED');
like($log, qr{^/burst 429 REJECTED$}m, '... REJECTED');
like($log, qr{^/paced 200 DELAYED$}m, '... DELAYED');
like($log, qr{^/user 200 -$}m, '... and not found ("-") where no key applied');

# configuration errors
$t->conf_fails('privacy_limit_zone $binary_remote_addr zone=a:1m rate=10r/w;',
               qr/invalid parameter "rate=10r\/w" in "privacy_limit_zone"/,
               'a bad rate');
$t->conf_fails('privacy_limit_zone $binary_remote_addr rate=1r/s;',
               qr/"privacy_limit_zone" must have "zone=NAME:SIZE"/,
               'no zone');
$t->conf_fails('privacy_limit_zone $binary_remote_addr zone=a:1k rate=1r/s;',
               qr/zone "zone=a:1k" is too small/, 'a tiny zone');
$t->conf_fails('privacy_limit_zone $a zone=a:1m rate=1r/s; '
               . 'privacy_limit_zone $b zone=a:1m rate=2r/s;',
               qr/duplicate zone "a"/, 'a duplicate zone');
$t->conf_fails('privacy_limit_zone $a zone=a:1m rate=1r/s; '
               . 'server { privacy_limit zone=a burst=-1; }',
               qr/invalid burst value "burst=-1"/, 'a negative burst');
$t->conf_fails('server { privacy_limit zone=nowhere; }',
               qr/zero size shared memory zone "nowhere"/, 'an unknown zone');

done_testing();
