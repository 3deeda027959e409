#!/usr/bin/perl

# Global rate limits through a real redis-server (sync=redis): exact
# counts at the edge of a burst; a refused request charges no zone, local
# or global; two nginx instances share one limit; the over-limit cache
# keeps a refused key off Redis; Redis stopped (SIGSTOP) while the same
# single worker answers everything else at once; the breaker; fail=open
# and fail=closed; Redis killed and started again on the same port;
# nginx -s reload while a request waits for Redis; AUTH and SELECT; the
# script cache flushed (NOSCRIPT); what privacy_status counts.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time sleep);
use POSIX ();

use lib 't/lib';
use PETest;

my $t = PETest->new;
$t->upstream('app');
my $rport = $t->redis;

# one node: a single worker, so that "the worker keeps serving" is tested
# where it could fail
my $http = <<'EOF';
    privacy_redis 127.0.0.1:%%REDIS%% timeout=300ms fail=open;

    privacy_limit_zone $http_x_user zone=g:1m rate=1r/m sync=redis;
    privacy_limit_zone $http_x_user zone=gmix:1m rate=1r/m sync=redis;
    privacy_limit_zone $http_x_user zone=lmix:1m rate=1r/m;
    privacy_limit_zone $http_x_user zone=gstrict:1m rate=1r/m sync=redis;
    privacy_limit_zone $http_x_user zone=lwide:1m rate=1r/m;
    privacy_limit_zone "all" zone=gall:1m rate=1r/m sync=redis;
    privacy_limit_zone $http_x_user zone=gslow:1m rate=1r/s sync=redis;

    log_format limits '$request_uri $status $privacy_limit_status';

    server {
        listen 127.0.0.1:%%PORT%%;
        listen 127.0.0.1:%%PORT_h2%% http2;
        access_log %%DIR%%/limits.log limits;

        location /g {
            privacy_limit zone=g burst=2 nodelay;
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }

        # global zone with burst 4, local with burst 1: the local one
        # refuses the third request, which must not cost global quota
        location /mix {
            privacy_limit zone=gmix burst=4 nodelay;
            privacy_limit zone=lmix burst=1 nodelay;
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }

        location /gmix {
            privacy_limit zone=gmix burst=4 nodelay;
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }

        # and the other way: Redis refuses, the local zone is not charged
        location /strict {
            privacy_limit zone=gstrict nodelay;
            privacy_limit zone=lwide burst=5 nodelay;
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }

        location /lwide {
            privacy_limit zone=lwide burst=5 nodelay;
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }

        # two global zones, one Redis call
        location /both {
            privacy_limit zone=g burst=2 nodelay;
            privacy_limit zone=gall burst=3 nodelay;
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }

        # without nodelay: held to the rate, as limit_req
        location /slow {
            privacy_limit zone=gslow burst=3;
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }

        location /free {
            return 204;
        }

        location = /status {
            privacy_status;
        }
    }
EOF

sub node_conf {
    my ($redis_port, $extra) = @_;
    my $c = $http =~ s/%%REDIS%%/$redis_port/r;
    $c =~ s/timeout=300ms fail=open/$extra/ if defined $extra;
    return $c;
}

$t->nginx_start(node_conf($rport));
my $port = $t->port;

sub get {
    my ($p, $uri, $user) = @_;
    return http_get($p, $uri, defined $user ? ('X-User' => $user) : ());
}

sub statuses {
    my ($p, $uri, $user, $n) = @_;
    return [map { get($p, $uri, $user)->{status} } 1 .. $n];
}

sub evalsha_calls {
    my $info = $t->redis_query($rport, ['INFO', 'commandstats']) // '';
    my $n = 0;
    $n += $1 while $info =~ /^cmdstat_eval(?:sha)?:calls=(\d+)/mg;
    return $n;
}

# --- exact counts at the edge of the burst -----------------------------

my @r = map { get($port, '/g', 'alice') } 1 .. 5;
is_deeply([map { $_->{status} } @r], [200, 200, 200, 429, 429],
          'burst 2 at 1r/m, through Redis: exactly three pass');
is_deeply([map { $_->{headers}{ratelimit} } @r[0 .. 2]],
          ['"g";r=2;t=60', '"g";r=1;t=120', '"g";r=0;t=180'],
          'RateLimit counts down from the numbers Redis returns');
is($r[3]{headers}{'retry-after'}, 60, 'the refusal has Retry-After: 60');
like($r[3]{body}, qr/^\{"error":"rate_limited","limit":"g","retry_after":60\}/,
     '... and the rate_limited JSON');
is($r[4]{headers}{ratelimit}, '"g";r=0;t=180',
   'a refusal from the over-limit cache carries the headers too');

my $keys = $t->redis_query($rport, ['KEYS', 'privacy:*']);
is(scalar @$keys, 1, 'one key in Redis');
like($keys->[0], qr/^privacy:\{g:[A-Za-z0-9_-]{43}\}$/,
     'named privacy:{zone:HMAC}: a Cluster hash tag, and no user in it');
unlike($keys->[0], qr/alice/, 'the key value itself is not stored');
my $pttl = $t->redis_query($rport, ['PTTL', $keys->[0]]);
ok($pttl > 170_000 && $pttl <= 181_000,
   "it expires when the key is back to full ($pttl ms)");

# the over-limit cache: a refused key does not reach Redis again
my $calls = evalsha_calls();
is_deeply(statuses($port, '/g', 'alice', 20), [(429) x 20],
          'twenty more from the refused key: refused');
is(evalsha_calls(), $calls, '... without a single call to Redis');

# HTTP/2: a stream waits for Redis as a connection does
is_deeply([map { http2_request($t->port('h2'), '/g', ['x'], 'x-user' => 'h2',
                               'content-length' => '1')->{status} } 1 .. 4],
          [200, 200, 200, 429], 'HTTP/2 streams: the same counts');

# many at once: 40 requests of 10 users as HTTP/2 streams, started in the
# same event loop cycle.  Requests of the same keys share a call, which
# decides them one after the other: exactly 3 of each user's 4 pass.
$calls = evalsha_calls();
my @crowd = map { my $u = $_; map { ['/g', 'x-user' => "crowd$u"] } 1 .. 4 }
            1 .. 10;
my @st = http2_burst($t->port('h2'), @crowd);
my %per;
$per{ $crowd[$_][2] }{ $st[$_] }++ for 0 .. $#st;
is_deeply(\%per, { map { ("crowd$_" => { 200 => 3, 429 => 1 }) } 1 .. 10 },
          '40 requests at once from 10 users: exactly 3 pass for each');
my $used = evalsha_calls() - $calls;
is($used, 10, '... in 10 calls to Redis, not 40: one per user, deciding '
              . 'its four');

# no key, no limit
is_deeply(statuses($port, '/g', undef, 4), [200, 200, 200, 200],
          'an empty key is not limited');

# --- a refused request charges nothing --------------------------------

is_deeply(statuses($port, '/mix', 'bob', 3), [200, 200, 429],
          'global burst 4 and local burst 1: the local zone refuses the third');
is(get($port, '/gmix', 'bob')->{headers}{ratelimit}, '"gmix";r=2;t=180',
   '... and Redis counted two requests, not three (5 - 3 left)');

is_deeply(statuses($port, '/strict', 'carol', 2), [200, 429],
          'Redis refuses the second');
is(get($port, '/lwide', 'carol')->{headers}{ratelimit}, '"lwide";r=4;t=120',
   '... and the local zone was charged once, not twice');

# two global zones in one call: the per-user one and the "all" one
is_deeply(statuses($port, '/both', 'dave', 4), [200, 200, 200, 429],
          'two synced zones: the per-user one refuses the fourth');
@r = map { get($port, '/both', 'erin') } 1 .. 2;
is_deeply([map { $_->{status} } @r], [200, 429],
          '... the refused fourth cost "all" (burst 3) nothing: '
          . 'the next user passes once');
like($r[1]{body}, qr/"limit":"gall"/, '... then "all" refuses');

# delay without nodelay, decided by Redis
my $t0 = time;
is_deeply(statuses($port, '/slow', 'frank', 3), [200, 200, 200],
          'without nodelay, 1r/s burst 3: passed');
my $held = time - $t0;
ok($held > 1.5, sprintf('... held to the rate (%.2f s for three)', $held));

# --- two nodes share the limit ---------------------------------------

my $t2 = PETest->new;
$t2->{ports}{up_app} = $t->port('up_app');
$t2->nginx_start(node_conf($rport));
my $port2 = $t2->port;

my @two = map { get($_ % 2 ? $port2 : $port, '/g', 'grace')->{status} } 1 .. 6;
is_deeply(\@two, [200, 200, 200, 429, 429, 429],
          'two nodes, alternate requests: 3 of 6 pass, as on one node');

# --- the script cache flushed: NOSCRIPT, then EVAL --------------------

is($t->redis_query($rport, ['SCRIPT', 'FLUSH']), 'OK', 'SCRIPT FLUSH');
is_deeply(statuses($port, '/g', 'heidi', 4), [200, 200, 200, 429],
          'after SCRIPT FLUSH the limit holds (EVAL after NOSCRIPT)');

# --- Redis stopped: the worker keeps serving --------------------------

my $rpid = $t->{redis_pid}{redis};
kill 'STOP', $rpid;

# a request that waits for Redis, in the background
sub background {
    my ($p, $uri, $user) = @_;
    my $file = $t->dir . "/bg-" . int(rand(1e9));
    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        my $s = time;
        my $res = get($p, $uri, $user);
        open(my $fh, '>', $file);
        printf $fh "%d %.3f\n", $res->{status}, time - $s;
        close $fh;
        POSIX::_exit(0);
    }
    return sub {
        waitpid($pid, 0);
        open(my $fh, '<', $file) or return (0, 0);
        my ($st, $secs) = split ' ', scalar <$fh>;
        return ($st, $secs);
    };
}

# a client that gives up while its request waits: the request goes, and
# the reply that comes later finds nothing to wake (the ASan pass and the
# error log check watch this)
{
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port)
        or die "connect: $!";
    print $s "GET /g HTTP/1.1\r\nHost: localhost\r\nX-User: quitter\r\n\r\n";
    sleep 0.05;
    close $s;
}

my $waiting = background($port, '/g', 'ivan');
sleep 0.05;
$t0 = time;
is(get($port, '/free')->{status}, 204,
   'Redis stopped: another location of the same worker answers');
my $free = time - $t0;
ok($free < 0.1, sprintf('... at once (%.3f s)', $free));
my ($st, $secs) = $waiting->();
is($st, 200, 'the waiting request: fail=open, passed by the local zone');
ok($secs >= 0.25 && $secs < 1, sprintf('... after the 300 ms timeout '
                                      . '(%.3f s)', $secs));

# two more timeouts open the breaker; then requests do not wait
get($port, '/g', "ivan$_") for 1 .. 2;
$t0 = time;
my @open = map { get($port, '/g', "judy$_")->{status} } 1 .. 5;
my $fast = time - $t0;
is_deeply(\@open, [(200) x 5], 'breaker open: fail=open passes');
ok($fast < 0.25, sprintf('... without waiting for Redis (%.3f s for 5)',
                         $fast));

# the local zone limits meanwhile
is_deeply(statuses($port, '/g', 'ken', 4), [200, 200, 200, 429],
          'while Redis is away, the local zone keeps the limit on this node');

my $log = $t->error_log;
like($log, qr/privacy: redis did not answer in time/, 'the timeout is logged');
like($log, qr/privacy: redis "127\.0\.0\.1:\d+": 3 failures in a row, not asked/,
     '... and the breaker opening');

kill 'CONT', $rpid;

# back within seconds: a new user's first request on this node is seen by
# the other node's second (r=1 left of burst 2) once Redis counts again
sub global_again {
    my ($tag) = @_;
    for my $i (1 .. 50) {
        sleep 0.1;
        get($port, '/g', "$tag$i");
        my $rl = get($port2, '/g', "$tag$i")->{headers}{ratelimit} // '';
        return $i if $rl eq '"g";r=1;t=120';
    }
    return 0;
}

my $back = global_again('back');
ok($back, "Redis answers again: limits are global again after ${back}00 ms");

# --- killed and started again on the same port ------------------------

$t->stop_pid($rpid, 'KILL');
my @down = map { get($port, '/g', "mallory")->{status} } 1 .. 4;
is_deeply(\@down, [200, 200, 200, 429],
          'Redis killed: the local zone limits (fail=open)');
is($t->redis, $rport, 'redis-server started again on the same port');

$back = global_again('again');
ok($back, "reconnected and global again after ${back}00 ms");
is_deeply([map { get($_ % 2 ? $port2 : $port, '/g', 'niaj')->{status} } 1 .. 6],
          [200, 200, 200, 429, 429, 429],
          '... and the two nodes share the limit again');

# --- the counters ------------------------------------------------------

my $status = status_settled($port, '/status')->{body};
my ($redis) = $status =~ /"redis":(\{.*\})\}/;
like($redis, qr/"calls":[1-9]\d*,"replies":[1-9]\d*/,
     'privacy_status counts Redis calls and replies');
like($redis, qr/"timeouts":[1-9]/, '... timeouts');
like($redis, qr/"skipped":[1-9]/, '... the calls the breaker skipped');
like($redis, qr/"latency_ms":\{"le1":\d+.*"count":[1-9]\d*,"sum":\d+\}/,
     '... and a latency histogram');
my $prom = http_get($port, '/status?format=prometheus')->{body};
like($prom, qr/^privacy_redis_total\{event="replies"\} [1-9]\d*$/m,
     'Prometheus: privacy_redis_total');
like($prom, qr/^privacy_redis_latency_ms_bucket\{le="\+Inf"\} [1-9]\d*$/m,
     '... and privacy_redis_latency_ms buckets');

# --- nginx -s reload while a request waits for Redis -------------------

# a user whom the other node has used up: only Redis knows
is_deeply(statuses($port2, '/g', 'oscar', 4), [200, 200, 200, 429],
          'the other node uses up a user\'s quota');

$t->nginx_stop;
$t->nginx_start(node_conf($rport, 'timeout=3s fail=open'));

kill 'STOP', $t->{redis_pid}{redis};
$waiting = background($port, '/g', 'oscar');
sleep 0.3;
$t->nginx_signal('HUP');
sleep 0.5;
kill 'CONT', $t->{redis_pid}{redis};
($st, $secs) = $waiting->();
is($st, 429, 'a request waiting for Redis across a reload is answered '
             . 'by Redis (429: used up on the other node)');
ok($secs < 2.5, sprintf('... once Redis is back (%.2f s), not at the '
                        . 'timeout', $secs));
sleep 0.3;
is(get($port, '/free')->{status}, 204, 'the new workers answer');

$t->nginx_stop;
$t2->nginx_stop;

$log = $t->read_file('limits.log');
like($log, qr{^/g 429 REJECTED$}m, '$privacy_limit_status REJECTED');
like($log, qr{^/slow 200 DELAYED$}m, '... DELAYED');
like($log, qr{^/g 499 }m, 'the client that gave up while waiting: 499');

# --- fail=closed -------------------------------------------------------

my $t3 = PETest->new;
my $nowhere = $t3->port('nowhere');     # nothing listens there
$t3->{ports}{up_app} = $t->port('up_app');
$t3->nginx_start(node_conf($nowhere, 'timeout=300ms fail=closed'));
my $port3 = $t3->port;

my $closed = get($port3, '/g', 'peggy');
is($closed->{status}, 503, 'fail=closed, Redis unreachable: 503');
like($closed->{body}, qr/^\{"error":"limiter_unavailable"\}/,
     '... limiter_unavailable');
is(get($port3, '/free')->{status}, 204, '... and the rest is served');
$t3->nginx_stop;
like($t3->error_log, qr/privacy: redis "127\.0\.0\.1:$nowhere": connect failed/,
     'the failed connect is logged');

# --- AUTH and SELECT ---------------------------------------------------

my $secret = 'pw-' . int(rand(1e9));
my $t4 = PETest->new;
my $aport = $t4->redis(password => $secret);
$t4->{ports}{up_app} = $t->port('up_app');
# by name: "localhost" is resolved when the configuration is read
$t4->nginx_start(node_conf($aport, "password=$secret db=3 fail=closed")
                 =~ s/127\.0\.0\.1:$aport/localhost:$aport/r);
is_deeply(statuses($t4->port, '/g', 'quinn', 4), [200, 200, 200, 429],
          'AUTH with a password and SELECT 3, Redis named "localhost": '
          . 'limited through Redis');
my $db3 = $t4->redis_query($aport, ['AUTH', $secret], ['SELECT', '3'],
                           ['KEYS', 'privacy:*']);
is(scalar @$db3, 1, '... the key is in database 3');
$t4->nginx_stop;

my $t5 = PETest->new;
$t5->{ports}{up_app} = $t->port('up_app');
$t5->nginx_start(node_conf($aport, 'password=wrong-secret fail=closed'));
is(get($t5->port, '/g', 'rupert')->{status}, 503,
   'a wrong password: the limiter is unavailable (fail=closed)');
$t5->nginx_stop;
like($t5->error_log, qr/privacy: redis "[^"]+": AUTH or SELECT refused: WRONGPASS/,
     '... and the refusal is logged');
unlike($t4->error_log . $t5->error_log, qr/\Q$secret\E|wrong-secret/,
       'no password in any log');

# --- a unix socket ----------------------------------------------------

my $t6 = PETest->new;
my $uport = $t6->redis(unix => 1);
my $sock = $t6->dir . '/redis/redis.sock';
$t6->{ports}{up_app} = $t->port('up_app');
$t6->nginx_start(node_conf($uport, 'fail=closed')
                 =~ s/127\.0\.0\.1:$uport/unix:$sock/r);
is_deeply(statuses($t6->port, '/g', 'sam', 4), [200, 200, 200, 429],
          'privacy_redis unix:/path: limited through Redis');
is(scalar @{ $t6->redis_query($uport, ['KEYS', 'privacy:*']) }, 1,
   '... the key is in that Redis');
$t6->nginx_stop;

# --- configuration errors ---------------------------------------------

$t->conf_fails('privacy_limit_zone $a zone=a:1m rate=1r/s sync=redis;',
               qr/"privacy_limit_zone" with "sync=redis" needs "privacy_redis"/,
               'sync=redis without privacy_redis');
$t->conf_fails('privacy_redis 127.0.0.1:1 timeout=soon;',
               qr/invalid parameter "timeout=soon" in "privacy_redis"/,
               'a bad timeout');
$t->conf_fails('privacy_redis 127.0.0.1:1 timeout=11s;',
               qr/"timeout=11s" is longer than 10s/,
               'a timeout over 10 s: requests would hang that long');
$t->conf_fails('privacy_redis 127.0.0.1:1 fail=maybe;',
               qr/invalid parameter "fail=maybe" in "privacy_redis"/,
               'a bad fail mode');
$t->conf_fails('privacy_redis 127.0.0.1:1 db=x;',
               qr/invalid parameter "db=x" in "privacy_redis"/, 'a bad db');
$t->conf_fails('privacy_redis 127.0.0.1:1; privacy_redis 127.0.0.1:2;',
               qr/"privacy_redis" directive is duplicate/, 'two Redis');
$t->conf_fails('privacy_redis no-such-host.invalid:6379;',
               qr/host not found in "no-such-host\.invalid:6379"/,
               'a hostname is resolved at start');
$t->conf_fails('privacy_limit_zone $a zone=a:1m rate=1r/s sync=memcached;',
               qr/invalid parameter "sync=memcached"/, 'an unknown sync');

done_testing();
