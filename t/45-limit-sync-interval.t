#!/usr/bin/perl

# Global rate limits at local speed (sync=redis sync_interval=50ms), with
# three nginx nodes of two workers each and one real redis-server:
# decisions as exact as a local zone's on one node; Redis asked once per
# interval per node, not per request nor per worker, and not at all when
# idle; a key used up on one node refused on the others within an
# interval; the over-admission of a hot key hammered on all three nodes
# at once, and of many keys, against the stated bound (and against the
# same limit without sync, which the bound must beat); Redis stopped
# (SIGSTOP): no request waits, the zone keeps limiting, fail=closed does
# not refuse; Redis back: what was charged meanwhile reaches it and the
# nodes agree again; one node cut off alone: its late charges count what
# they still owe, not refusing a user under the rate; Redis far away or
# pausing: the charges still add up.

use strict;
use warnings;

use Test::More;
use IO::Socket::INET;
use IO::Select;
use POSIX ();
use Time::HiRes qw(time sleep);

use lib 't/lib';
use PETest;

my $t = site();
my $rport = $t->redis;

my $http = <<'EOF';
    privacy_redis 127.0.0.1:%%REDIS%% timeout=200ms fail=closed;

    privacy_limit_zone $http_x_user zone=hot:1m rate=20r/s
                       sync=redis sync_interval=50ms;
    privacy_limit_zone $http_x_user zone=slow:1m rate=1r/m
                       sync=redis sync_interval=1s;
    privacy_limit_zone $http_x_user zone=quota:4m rate=1r/m
                       sync=redis sync_interval=50ms;
    privacy_limit_zone $http_x_user zone=share:1m rate=10r/s
                       sync=redis sync_interval=50ms;
    privacy_limit_zone $http_x_user zone=evict:1m rate=10r/s
                       sync=redis sync_interval=50ms;
    privacy_limit_zone $http_x_user zone=rescale:1m rate=1r/m
                       sync=redis sync_interval=1s;
    privacy_limit_zone $http_x_user zone=alone:1m rate=20r/s;
    privacy_limit_zone $http_x_user zone=paced:1m rate=100r/s
                       sync=redis sync_interval=50ms;

    access_log off;
    keepalive_requests 1000000;

    server {
        listen 127.0.0.1:%%PORT%%;

        location /hot/ {
            privacy_limit zone=hot burst=5 nodelay;
            alias %%DIR%%/www/;
        }

        location /slow/ {
            privacy_limit zone=slow burst=2 nodelay;
            alias %%DIR%%/www/;
        }

        location /quota/ {
            privacy_limit zone=quota burst=2 nodelay;
            alias %%DIR%%/www/;
        }

        location /share/ {
            privacy_limit zone=share burst=3 nodelay;
            alias %%DIR%%/www/;
        }

        location /evict/ {
            privacy_limit zone=evict burst=3 nodelay;
            alias %%DIR%%/www/;
        }

        location /slow-alone/ {
            privacy_limit zone=slow burst=2 nodelay;
            privacy_limit zone=alone burst=5 nodelay;
            alias %%DIR%%/www/;
        }

        location /rescale/ {
            privacy_limit zone=rescale burst=2 nodelay;
            alias %%DIR%%/www/;
        }

        location /alone/ {
            privacy_limit zone=alone burst=5 nodelay;
            alias %%DIR%%/www/;
        }

        location /paced/ {
            privacy_limit zone=paced burst=5 nodelay;
            alias %%DIR%%/www/;
        }

        location /free/ {
            alias %%DIR%%/www/;
        }

        location = /status {
            privacy_status;
        }
    }
EOF

# a PETest with the file every location serves
sub site {
    my $n = PETest->new;
    mkdir $n->dir . '/www';
    $n->write_file('www/x', 'x');
    return $n;
}

sub node_conf {
    return $http =~ s/%%REDIS%%/$rport/r;
}

# --- configuration -----------------------------------------------------

my $tc = PETest->new;
$tc->conf_fails(<<'EOF', qr/"sync_interval" needs "sync=redis"/,
    privacy_limit_zone $http_x_user zone=z:1m rate=1r/s sync_interval=50ms;
EOF
    'sync_interval without sync=redis');
$tc->conf_fails(<<'EOF', qr/"sync_interval=5ms" is shorter than 10ms/,
    privacy_redis 127.0.0.1:6379;
    privacy_limit_zone $http_x_user zone=z:1m rate=1r/s sync=redis
                       sync_interval=5ms;
EOF
    'sync_interval=5ms');
$tc->conf_fails(<<'EOF', qr/invalid parameter "sync_interval=soon"/,
    privacy_redis 127.0.0.1:6379;
    privacy_limit_zone $http_x_user zone=z:1m rate=1r/s sync=redis
                       sync_interval=soon;
EOF
    'sync_interval=soon');

# --- three nodes -------------------------------------------------------

my @nodes = ($t);
push @nodes, site() for 1 .. 2;
$_->nginx_start(node_conf(), workers => 2) for @nodes;
my @port = map { $_->port } @nodes;

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
    return ($info =~ /^cmdstat_evalsha:calls=(\d+)/m)[0] // 0;
}

sub redis_keys {
    my ($zone) = @_;
    my $n = $t->redis_query($rport, ['EVAL',
        "return #redis.call('KEYS', ARGV[1])", 0, "privacy:{$zone:*"]);
    return $n // 0;
}

# hammer on every node at once, one client each: the sums
sub hammer_all {
    my ($uri, $users, $secs) = @_;
    return hammer_nodes($t->dir, \@port, $uri, $users, $secs);
}

# --- one node: local decisions, Redis once per interval ---------------

# cora's request is sent (the node does not know yet how many share the
# zone), and its answer tells: one
get($port[0], '/quota/x', 'cora');
sleep 0.1;
is_deeply(statuses($port[0], '/quota/x', 'alice', 4), [200, 200, 200, 429],
          '1r/m burst 2 on one node: 3 pass, the 4th is refused at once');
my $rl = get($port[0], '/quota/x', 'bob')->{headers}{ratelimit};
is($rl, '"quota";r=2;t=60', 'RateLimit from the node\'s own state');

sleep 0.2;
is(redis_keys('quota'), 2,
   'alice, used up on the node, reached Redis within an interval; bob, '
   . 'within the node\'s share, was only asked about');
is($t->redis_query($rport, ['ZCARD', 'privacy:{quota}:nodes']), 1,
   '... and Redis knows one node shares the zone');

# idle: keys nobody charged cost nothing
my $calls = evalsha_calls();
sleep 0.5;
is(evalsha_calls() - $calls, 0, 'idle nodes do not call Redis');

# a steady stream on one node of two workers: one flush per interval
$calls = evalsha_calls();
my $t0 = time;
my ($ok, $no) = hammer($port[0], '/hot/x', [map { "u$_" } 1 .. 50], 1);
my $took = time - $t0;
my $flushes = evalsha_calls() - $calls;
ok($ok + $no > 200, "a stream of requests (" . ($ok + $no) . " in 1 s)");
ok($flushes <= $took / 0.05 * 1.3 + 2,
   "... Redis called once per interval for the node, not per request "
   . "nor per worker ($flushes calls in " . sprintf('%.2f', $took) . " s)");
ok($flushes >= 5, "... and called ($flushes)");

# --- a key used up on one node is refused on the others ---------------

# a node learns a key's global state at its first flush after it charged
# the key: until then it has its own bucket, at most burst + 1
my @users = map { "many$_" } 1 .. 300;
my @first = map { @{ statuses($port[0], '/quota/x', $_, 3) } } @users;
is(scalar(grep { $_ == 200 } @first), 900,
   '300 users use up their quota on node 1');
sleep 0.15;
my @fresh = map { get($port[1], '/quota/x', $_)->{status} } @users;
my $leak = grep { $_ == 200 } @fresh;
ok($leak <= 300, "node 2 had not seen them: its own bucket ($leak passed)");
sleep 0.15;
my @known = map { get($port[1], '/quota/x', $_)->{status} } @users;
is(scalar(grep { $_ == 429 } @known), 300,
   '... an interval later node 2 refuses all 300');
my @third = map { @{ statuses($port[2], '/quota/x', $_, 4) } } @users;
ok(scalar(grep { $_ == 200 } @third) <= 3 * 300,
   '... node 3, new to them, passes at most burst + 1 each before it knows');

# a key new to a node is sent soon, not at the next interval: with a 1 s
# interval, node 2 knows within a sixteenth of it and a round trip (the
# check allows a quarter, for a busy machine)
my @late = map { "late$_" } 1 .. 5;
statuses($port[0], '/slow/x', $_, 3) for @late;
sleep 0.3;
my @first2 = map { get($port[1], '/slow/x', $_)->{status} } @late;
sleep 0.25;
my @then2 = map { get($port[1], '/slow/x', $_)->{status} } @late;
is_deeply(\@then2, [(429) x 5],
          'sync_interval=1s: keys new to node 2 ('
          . join(' ', @first2) . ') known there 0.25 s later');

# a key that node 2 read was shared before it had the key starts from
# its global state there: refused at its first request
# (node 1 first hears how many share the zone: were it to learn it between
# the charges, a charge it kept would be counted at the new share, and
# lost, within the bound: the key would not be used up in Redis)
get($port[0], '/slow/x', 'node1');
sleep 0.2;
statuses($port[0], '/slow/x', $_, 3) for qw(heard ivy);      # announced
sleep 0.2;
get($port[1], '/slow/x', 'warm');                   # node 2 reads the list
sleep 0.2;
is(get($port[1], '/slow/x', 'heard')->{status}, 429,
   'a key shared before node 2 had it: refused at its first request there');
is(get($port[1], '/slow-alone/x', 'ivy')->{status}, 429,
   '... in a location of two zones too');

# a node's share counted anew when the number of nodes changes: kim's
# two requests are kept on node 1 while it is alone in the zone (its
# share: the whole limit); node 2 joins, node 1 hears of it, and kim's
# third request takes her over node 1's share, now half the limit: all
# three reach Redis, not the two that half a share would count
get($port[0], '/rescale/x', 'warm1');           # node 1 hears: one node
sleep 0.3;
get($port[0], '/rescale/x', 'kim') for 1 .. 2;
sleep 0.3;
get($port[1], '/rescale/x', 'warm2');           # node 2 joins
sleep 0.3;
get($port[0], '/rescale/x', 'warm3');           # node 1 hears: two
sleep 0.3;
get($port[0], '/rescale/x', 'kim');             # over its share: sent
sleep 0.3;
my ($kim_id) = @{ $t->redis_query($rport,
                                  ['KEYS', 'privacy:{rescale}:id:*']) };
my $kim_key = $kim_id && $t->redis_query($rport, ['GET', $kim_id]);
my $kim_tat = $kim_key && $t->redis_query($rport, ['GET', $kim_key]);
my $redis_now = $t->redis_query($rport, ['TIME']);
my $owed = $kim_tat
    ? ($kim_tat - ($redis_now->[0] * 1e6 + $redis_now->[1])) / 1e6 : 0;
ok($owed > 150, sprintf('kim\'s three requests counted in Redis after the '
                        . 'nodes changed (%.1f s owed; two: 120)', $owed));

# --- workers exiting while an exchange is under way -------------------

# Redis holds node 1's exchange (CLIENT PAUSE) while its workers are told
# to quit, as on a reload: they wait for the answer rather than drop it
my $lost = sub {
    (status_settled($port[0], '/status')->{body} =~ /"lost":(\d+)/)[0]
};
my $lost0 = $lost->();
my @workers = split ' ', `ps -o pid= --ppid $nodes[0]->{nginx_pid}`;
my $keys0 = sync_keys($port[0]);
$t->redis_query($rport, ['CLIENT', 'PAUSE', 40, 'ALL']);
get($port[0], '/quota/x', 'gina') for 1 .. 3;       # used up: sent
kill 'QUIT', @workers;
sleep 1;                            # gone, and others started
is($lost->() - $lost0, 0, 'workers quitting under an exchange lose nothing');
# her charges go with the exchange under way, or with the new workers'
# first if they were listed after it left; node 2 asks about her more
# than a linger (1 s) after node 1 announced her shared, and must still
# hear she is (Redis holds her state for minutes)
for (1 .. 20) { last if sync_keys($port[0]) > $keys0; sleep 0.1 }
get($port[1], '/quota/x', 'gina');
sleep 0.2;
like(get($port[1], '/quota/x', 'gina')->{headers}{ratelimit},
     qr/^"quota";r=0;/,
     '... the charges made before reached Redis: node 2 counts 4');

# --- a hot key hammered on three nodes at once ------------------------

# 20r/s burst 5 for 3 s: an exact limit passes 20 x 3 + 6 = 66; the bound
# is (N - 1) x (rate x 2 x interval + burst + 1) = 2 x (2 + 6) = 16 more
($ok, $no) = hammer_all('/hot/x', ['hot'], 3);
my $exact = 20 * 3 + 6;
ok($ok <= $exact + 16, "hot key, 3 nodes, 3 s: $ok passed (exact $exact, "
                       . "bound " . ($exact + 16) . "), $no refused");
ok($ok >= $exact - 6, '... and not starved below the exact count');

# the same without sync: each node alone would pass about three times it
my ($alone) = hammer_all('/alone/x', ['hot'], 3);
ok($alone > 2.5 * $exact, "the same limit without sync passes $alone");

# --- three nodes each under the rate, together over it ---------------

# 100r/s burst 5, each node asked 50 times a second for 3 s: each alone is
# within the limit, the three together pass about 100 x 3 + 6 = 306 of
# 450 (each node's charges over an interval leave nothing owed by the
# time they arrive; Redis must keep them for the others' to add to)
($ok, $no) = hammer_nodes($t->dir, \@port, '/paced/x', ['slow'], 3, 50);
ok($ok <= 306 + 2 * (10 + 6),
   "3 nodes at 50r/s each, a limit of 100r/s: $ok passed (exact 306, "
   . "bound 338), $no refused");

# --- many keys hammered on three nodes at once ------------------------

# 100 users of 1r/m burst 2, each on every node for 2 s: exact 300
my @crowd = map { "crowd$_" } 1 .. 100;
($ok, $no) = hammer_all('/quota/x', \@crowd, 2);
ok($ok <= 300 + 100 * 2 * 3,
   "100 keys, 3 nodes: $ok passed (exact 300, bound 900), $no refused");
ok($ok >= 300, '... every user had the quota');
my @after = map { get($port[$_ % 3], '/quota/x', $crowd[$_])->{status} }
            0 .. $#crowd;
is(scalar(grep { $_ == 429 } @after), 100,
   '... then each of them is refused on every node');

# --- shares: a key within each node's share stays there --------------

# 10r/s burst 3 on three nodes: each node's share is 3.3r/s, burst 1.
# The three learn how many share the zone from Redis as they exchange.
hammer_all('/share/x', ['warm'], 0.4, 10);
my $shared0 = redis_keys('share');
is($t->redis_query($rport, ['ZCARD', 'privacy:{share}:nodes']), 3,
   'shares: Redis counts the three nodes that use the zone');

# 50 users, one request on each node: within every node's share, they
# pass, and Redis writes none of them (each is asked about once)
my @within = map { my $u = $_; map { get($_, '/share/x', $u)->{status} }
                                   @port } map { "within$_" } 1 .. 50;
sleep 0.2;
is_deeply([scalar(grep { $_ == 200 } @within), redis_keys('share') - $shared0],
          [150, 0],
          '... 50 users within each node\'s share pass on all three, and '
          . 'cost Redis no key');

# one user on node 1 alone at 8r/s: the whole rate, not a third of it
($ok, $no) = hammer($port[0], '/share/x', ['sticky'], 3, 8);
is($no, 0, "... one user on one node only gets the whole rate ($ok of "
           . ($ok + $no) . ' pass at 8r/s)');

# node 1 at 15r/s, over its share; nodes 2 and 3 at 3r/s each, within
# theirs, for 4 s: they learn from Redis that the key is shared and send
# their charges too.  Exact: 10 x 4 + 4 = 44; the bound adds
# 2 x (10 x 0.1 + 3 + 1) = 10.  Were theirs never sent, 44 + 24 would pass
($ok, $no) = hammer_nodes($t->dir, \@port, '/share/x', ['mixed'], 4,
                          [15, 3, 3]);
ok($ok <= 54, "... over its share on one node, within it on two: $ok "
              . "passed (exact 44, bound 54; 68 if the two kept theirs), "
              . "$no refused");

# the same user at 6r/s on each node (18r/s in all), two users new to the
# node before each of his requests, in a zone of few keys: a node's share
# of a key must outlive the key's own bucket (it drains three times
# slower), or new keys evict it and he starts each time within his share
# (72 would pass)
hammer_all('/evict/x', ['warm'], 0.4, 10);
sleep 1.1;                          # warm drained, and may go
my @fill = map { ("new$_", "fill$_", 'paced') } 1 .. 200;
($ok, $no) = hammer_nodes($t->dir, \@port, '/evict/x', \@fill, 4, 18);
my $paced = $ok - (($ok + $no) - int(($ok + $no) / 3));
ok($paced <= 54, "... 6r/s on each node among users new to them: $paced "
                 . "passed (exact 44, bound 54)");

# a reload keeps the zone and its keys: a user used up on node 2 is still
# refused there after it (the keys' hashes are made anew, alike)
statuses($port[1], '/quota/x', 'reloaded', 4);
$nodes[1]->nginx_signal('HUP');
sleep 1;
is_deeply(statuses($port[1], '/quota/x', 'reloaded', 2), [429, 429],
          '... a user used up on a node is still refused there after '
          . 'nginx -s reload');

# --- Redis stopped: nothing waits -------------------------------------

my $rpid = $t->{redis_pid}{redis};
kill 'STOP', $rpid;
sleep 0.2;      # a flush or two under way, and timing out

my $slowest = 0;
my @st;
for my $i (1 .. 40) {
    $t0 = time;
    push @st, get($port[$i % 3], '/hot/x', "stopped$i")->{status};
    $slowest = time - $t0 if time - $t0 > $slowest;
}
is(scalar(grep { $_ == 200 } @st), 40,
   'Redis stopped: requests pass (fail=closed does not refuse them)');
ok($slowest < 0.1, sprintf('... none waits for Redis (slowest %.3f s)',
                           $slowest));
is_deeply(statuses($port[0], '/quota/x', 'carol', 4), [200, 200, 200, 429],
          '... and the zone still limits on each node');

# charges made while Redis is away: dave used up on node 1
is_deeply(statuses($port[0], '/quota/x', 'dave', 3), [200, 200, 200],
          'dave uses his quota on node 1 while Redis is stopped');
sleep 1.5;
kill 'CONT', $rpid;

# they reach Redis once it answers: dave is refused on node 2 then
my $back = 0;
$t0 = time;
while (time - $t0 < 5) {
    if (redis_keys('quota') && get($port[1], '/quota/x', 'dave')->{status}
                               == 429) {
        $back = time - $t0;
        last;
    }
    sleep 0.05;
}
ok($back, sprintf('Redis back: node 1\'s charges reached it and node 2 '
                  . 'refuses dave after %.2f s', $back));
ok($back && $back < 3, '... within a few seconds');

like($t->error_log, qr/did not answer a limit sync in time/,
     'the lost flush is logged');

my $status = status_settled($port[0], '/status')->{body};
like($status, qr/"sync":\{"keys":[1-9]\d*,"lost":[1-9]\d*\}/,
     'privacy_status counts the keys exchanged and the charges lost')
    or diag($status);
like(http_get($port[0], '/status?format=prometheus')->{body},
     qr/^privacy_limit_sync_total\{event="keys"\} [1-9]\d*$/m,
     '... in Prometheus too');

# --- Redis restarted empty: a node keeps its own count ----------------

is_deeply(statuses($port[0], '/quota/x', 'erin', 2), [200, 200],
          'erin uses 2 of her 3 on node 1');
sleep 0.2;
$t->redis_stop('redis', 'KILL');
is($t->redis, $rport, 'Redis killed and started again, empty');
sleep 1;    # reconnected
my @erin = map { sleep 0.15; get($port[0], '/quota/x', 'erin')->{status} }
           1 .. 4;
is_deeply(\@erin, [200, 429, 429, 429],
          '... node 1, exchanging again, still lets her have only the third');

# --- a Redis that refuses the exchange: charges kept, sent once it takes

# a node on such a Redis: a user's charges are refused before anything is
# written, kept, and land once $allow made it take them
sub refused_then_taken {
    my ($what, $rp, $why, $user, $allow) = @_;
    my $n = site();
    $n->nginx_start($http =~ s/%%REDIS%%/$rp/r);
    sleep 0.5;
    is_deeply(statuses($n->port, '/quota/x', $user, 3), [200, 200, 200],
              "a node on $what: $user uses the quota there");
    sleep 0.5;
    like(status_settled($n->port, '/status')->{body},
         qr/"sync":\{"keys":0,"lost":0\}/,
         '... nothing lost: refused before anything was written');
    like($n->error_log, $why, '... the refusal logged');
    $allow->();
    my $landed = 0;
    for (1 .. 40) {
        sleep 0.1;
        $landed = $t->redis_query($rp, ['EVAL',
            "return #redis.call('KEYS', 'privacy:{quota:*')", 0]) // 0;
        last if $landed;
    }
    ok($landed, "... taken again: the charges reach it");
    $n->nginx_stop;
}

my $replica = $t->redis(name => 'replica');
$t->redis_query($replica, ['REPLICAOF', '127.0.0.1', $rport]);
refused_then_taken('a read-only replica', $replica, qr/READONLY/, 'frank',
    sub { $t->redis_query($replica, ['REPLICAOF', 'NO', 'ONE']) });

# a Redis user whose ACL lacks a command the exchange calls
my $acl = $t->redis(name => 'acl');
$t->redis_query($acl, ['ACL', 'SETUSER', 'default', '-mget']);
refused_then_taken('a Redis denying MGET', $acl, qr/can't run this command/,
    'grace', sub { $t->redis_query($acl, ['ACL', 'SETUSER', 'default',
                                          '+mget']) });

# --- a flush of several calls times out as the breaker opens ----------

# 600 keys new to a node of one worker go in three calls; Redis stops
# under them, and two exact requests time out first, so the flush's
# timeout is the failure that opens the breaker (which frees the
# connection, and hiredis calls back the calls still pending): the
# worker survives it (a race: under ASan, the old code failed every
# other run, and its release build aborted)
my $t6 = site();
my $r6 = $t6->redis;
$t6->nginx_start(<<"EOF", workers => 1);
    privacy_redis 127.0.0.1:$r6 timeout=300ms fail=open;
    privacy_limit_zone \$http_x_user zone=exact:1m rate=100r/s sync=redis;
    privacy_limit_zone \$http_x_user zone=many:4m rate=1r/m
                       sync=redis sync_interval=2s;
    access_log off;
    keepalive_requests 1000000;

    server {
        listen 127.0.0.1:%%PORT%%;

        location /exact/ {
            privacy_limit zone=exact burst=5 nodelay;
            alias %%DIR%%/www/;
        }

        location /many/ {
            privacy_limit zone=many burst=5 nodelay;
            alias %%DIR%%/www/;
        }

        location = /status {
            privacy_status;
        }
    }
EOF
sleep 2.5;                          # connected, the first ticks past
my $pipe = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                 PeerPort => $t6->port) or die;
print $pipe join '', map { "GET /many/x HTTP/1.1\r\nHost: n\r\n"
                           . "X-User: many$_\r\n\r\n" } 1 .. 600;
my $got = '';
while ((() = $got =~ /\r\n\r\nx/g) < 600) {
    sysread($pipe, $got, 65536, length $got) or die "read: $!";
}
sleep 0.04;                         # the first keys sent, the rest soon
kill 'STOP', $t6->{redis_pid}{redis};
my @exact = map { IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                        PeerPort => $t6->port) } 1 .. 2;
print { $exact[$_] } "GET /exact/x HTTP/1.1\r\nHost: n\r\nX-User: e$_\r\n\r\n"
    for 0 .. 1;
sleep 1.5;
kill 'CONT', $t6->{redis_pid}{redis};
sleep 0.5;
my $lost6 = (http_get($t6->port, '/status')->{body} =~ /"lost":(\d+)/)[0];
unlike($t6->error_log, qr/exited on signal/,
       "a flush timed out as the breaker opened ($lost6 charges lost): "
       . 'the worker lives');
$t6->nginx_stop;

# --- more new keys than one flush carries ------------------------------

# 9000 keys new to a node at once (a flush carries 8192), each over the
# node's share at once (no burst): the rest go a sixteenth of the
# interval later, not at the next interval (2 s here)
my $t7 = site();
$t7->nginx_start(<<"EOF", workers => 1);
    privacy_redis 127.0.0.1:$rport timeout=1s fail=open;
    privacy_limit_zone \$http_x_user zone=crowd:16m rate=1r/m
                       sync=redis sync_interval=2s;
    access_log off;
    keepalive_requests 1000000;

    server {
        listen 127.0.0.1:%%PORT%%;

        location /crowd/ {
            privacy_limit zone=crowd nodelay;
            alias %%DIR%%/www/;
        }
    }
EOF
sleep 2.1;                          # the first ticks past
my $crowd = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $t7->port) or die;
print $crowd join '', map { "GET /crowd/x HTTP/1.1\r\nHost: n\r\n"
                            . "X-User: c$_\r\n\r\n" } 1 .. 9000;
my $answers = '';
while ((() = $answers =~ /\r\n\r\nx/g) < 9000) {
    sysread($crowd, $answers, 1 << 20, length $answers) or die "read: $!";
}
sleep 0.6;
is(redis_keys('crowd'), 9000,
   '9000 keys new to a node at once all reach Redis within 0.6 s');
$t7->nginx_stop;

# --- a zone too small for its keys: charges it must drop are counted --

# no Redis listens there, so every charge stays listed, and a 32k zone
# holds a few hundred keys: the rest push listed keys out
my $t5 = site();
$t5->nginx_start(<<'EOF');
    privacy_redis 127.0.0.1:%%PORT_nowhere%% timeout=200ms fail=open;
    privacy_limit_zone $http_x_user zone=small:32k rate=1r/m
                       sync=redis sync_interval=50ms;
    access_log off;

    server {
        listen 127.0.0.1:%%PORT%%;

        location /small/ {
            privacy_limit zone=small burst=2 nodelay;
            alias %%DIR%%/www/;
        }

        location = /status {
            privacy_status;
        }
    }
EOF
my @small = map { @{ statuses($t5->port, '/small/x', "small$_", 2) } }
             1 .. 1500;
is(scalar(grep { $_ == 200 } @small), 3000, 'a full zone still passes');
like(status_settled($t5->port, '/status')->{body},
     qr/"sync":\{"keys":0,"lost":[1-9]\d*\}/,
     '... and counts the listed charges it had to drop as lost');
$t5->nginx_stop;

# --- one node cut off: its late charges are not stacked on another's --

# A TCP relay to Redis that the test can stop (SIGSTOP): the node behind
# it alone is cut off.  Each way, what it reads goes on $delay seconds
# later (a Redis far away).  Returns its port and pid.
sub relay {
    my ($to, $delay) = @_;
    my $listen = IO::Socket::INET->new(Listen => 16, ReuseAddr => 1,
                                       LocalAddr => '127.0.0.1:0')
        or die "relay: $!";
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        # a side gone while its answers come: dropped, not the relay;
        # and the relay never ends as the test does (killing its Redis)
        $SIG{PIPE} = 'IGNORE';
        eval { relay_loop($listen, $to, $delay) };
        POSIX::_exit(0);
    }
    push @{ $t->{pids} }, $pid;
    my $port = $listen->sockport;
    close $listen;
    return ($port, $pid);
}

sub relay_loop {
    my ($listen, $to, $delay) = @_;
    my $sel = IO::Select->new($listen);
    my (%peer, @due);
    while (1) {
        my $wait = @due ? $due[0][0] - time : undef;
        for my $s ($sel->can_read(defined $wait && $wait < 0 ? 0
                                                            : $wait))
        {
            if ($s == $listen) {
                my $c = $listen->accept or next;
                my $r = IO::Socket::INET->new("127.0.0.1:$to")
                    or next;
                @peer{$c, $r} = ($r, $c);
                $sel->add($c, $r);
                next;
            }
            my $o = $peer{$s} or next;  # its pair closed just now
            my $n = sysread($s, my $buf, 65536);
            if (!$n) {
                $sel->remove($s, $o);
                delete @peer{$s, $o};
                close $_ for $s, $o;
                next;
            }
            push @due, [time + ($delay // 0), $o, $buf];
        }
        while (@due && $due[0][0] <= time) {
            my (undef, $o, $buf) = @{ shift @due };
            for (my $off = 0; $off < length $buf; ) {
                my $w = syswrite($o, $buf, length($buf) - $off, $off)
                    or last;
                $off += $w;
            }
        }
    }
}

sub sync_keys {
    my ($p) = @_;
    return (status_settled($p, '/status')->{body} =~ /"sync":\{"keys":(\d+)/)
           [0];
}

# Node 1 is cut off for 6 s and charges ursula twice a second meanwhile,
# node 2 once a second (together 3r/s, under the 4r/s limit).  Node 1's
# charges reach Redis older than it keeps a past arrival time (two
# intervals): they weigh from when they were made, not stacked on node
# 2's last charges (11 charges, 2.75 s: she was refused for seconds).
my ($relay_port, $relay) = relay($rport);
my @cut = map { site() } 1 .. 2;
for my $to ($relay_port, $rport) {
    $cut[$to == $rport]->nginx_start(<<"EOF", workers => 1);
    privacy_redis 127.0.0.1:$to timeout=200ms fail=open;
    privacy_limit_zone \$http_x_user zone=cut:1m rate=4r/s
                       sync=redis sync_interval=1s;
    privacy_limit_zone \$http_x_user zone=cutquota:1m rate=1r/m
                       sync=redis sync_interval=1s;
    access_log off;

    server {
        listen 127.0.0.1:%%PORT%%;

        location /cut/ {
            privacy_limit zone=cut burst=1 nodelay;
            alias %%DIR%%/www/;
        }

        location /cutquota/ {
            privacy_limit zone=cutquota burst=2 nodelay;
            alias %%DIR%%/www/;
        }

        location = /status {
            privacy_status;
        }
    }
EOF
}
my ($cut1, $cut2) = map { $_->port } @cut;

# node 1 reconnected: seconds until it has exchanged a key (undef: not in
# 15 s), doing $meanwhile->(i) every tenth of a second
sub reconnect {
    my ($meanwhile) = @_;
    my $before = sync_keys($cut1);
    kill 'CONT', $relay;
    my $from = time;
    for my $i (1 .. 150) {
        $meanwhile->($i);
        sleep 0.1;
        return time - $from if sync_keys($cut1) > $before;
    }
    return undef;
}
sleep 1.2;                          # connected, the first ticks past

kill 'STOP', $relay;
my (@cut_st, @victor, $victor_at);
$t0 = time;
for my $i (0 .. 11) {
    my $wait = $t0 + $i * 0.5 - time;
    sleep $wait if $wait > 0;
    push @cut_st, get($cut1, '/cut/x', 'ursula')->{status};
    push @cut_st, get($cut2, '/cut/x', 'ursula')->{status} if $i % 2;
    # victor uses his quota of 3 on each node meanwhile, once node 1 has
    # given up asking (a zone's first exchange into the cut may still
    # land when it is over)
    push @victor, @{ statuses($_, '/cutquota/x', 'victor', 3) }
        for $i == 6 ? ($cut1, $cut2) : ();
    $victor_at = time if $i == 6;
}
is(scalar(grep { $_ == 200 } @cut_st), 18,
   'node 1 cut off from Redis: ursula, under the rate, passes on both');
is_deeply(\@victor, [(200) x 6],
          '... and victor passes his quota on each, as nodes alone do');

# node 2 goes on once a second while node 1's backlog lands, and what
# it owes in Redis is kept at 0.3 s (as a node 2 busier with ursula
# would keep it): the backlog, stacked on it, owed 3 s
my $owing = sub {
    $t->redis_query($rport, ['EVAL', <<'LUA', 0]);
local t = redis.call('TIME')
for _, k in ipairs(redis.call('KEYS', 'privacy:{cut:*')) do
  redis.call('SET', k, t[1] * 1000000 + t[2] + 300000, 'PX', 5000)
end
LUA
};
my $landed = reconnect(sub {
    $owing->();
    push @cut_st, get($cut2, '/cut/x', 'ursula')->{status} unless $_[0] % 10;
});
ok($landed, sprintf('node 1 back: its charges reach Redis after %.1f s',
                    $landed // 0)) or diag($cut[0]->error_log);

my @after_cut = map { sleep 0.6; (get($cut1, '/cut/x', 'ursula')->{status},
                             get($cut2, '/cut/x', 'ursula')->{status}) }
           1 .. 4;
is_deeply([$landed ? 'landed' : 'never landed', @cut_st[18 .. $#cut_st],
           @after_cut],
          ['landed', (200) x (@cut_st - 18 + @after_cut)],
          '... and they are not stacked on node 2\'s: she still passes on '
          . 'both') or diag("after: @cut_st[18 .. $#cut_st] / @after_cut");

# both nodes' charges of victor count: 6 minutes from when he used them,
# less at most the time both nodes' debts drained at once (the rest of
# the cut); one node's alone would be 3
my $owed = $t->redis_query($rport, ['EVAL', <<'LUA', 0]);
local k = redis.call('KEYS', 'privacy:{cutquota:*')[1]
local t = redis.call('TIME')
return (redis.call('GET', k) - t[1] * 1000000 - t[2]) / 1000000
LUA
my $since = time - $victor_at;
ok($owed > 360 - 2 * $since - 1 && $owed < 360 - $since + 1,
   sprintf('... and his charges on both count in Redis: %.1f s owed, '
           . '%.1f s after he used them (6 min less %.1f s at most)',
           $owed // 0, $since, $since));

$_->nginx_stop for @cut;

# --- Redis far away: a round trip longer than the interval -----------

# Three nodes each 30 ms from Redis either way, with a 20 ms interval:
# their exchanges arrive later than two intervals, as a node's after an
# outage would, and Redis must still add them up (each node's charges
# placed from their own time passed 450 of 453 here, as if unsynced)
# three nodes of a 100r/s burst 5 zone NAME under /NAME/, on Redis at
# port (a list: one each) with the timeout and the interval given
sub paced_nodes {
    my ($name, $ports, $timeout, $interval, $workers) = @_;
    my @n = map { site() } 1 .. 3;
    for my $i (0 .. 2) {
        $n[$i]->nginx_start(<<"EOF", workers => $workers);
    privacy_redis 127.0.0.1:$ports->[$i] timeout=$timeout fail=open;
    privacy_limit_zone \$http_x_user zone=$name:1m rate=100r/s
                       sync=redis sync_interval=$interval;
    access_log off;
    keepalive_requests 1000000;

    server {
        listen 127.0.0.1:%%PORT%%;

        location /$name/ {
            privacy_limit zone=$name burst=5 nodelay;
            alias %%DIR%%/www/;
        }
    }
EOF
    }
    return @n;
}

my @far = paced_nodes('far', [map { (relay($rport, 0.03))[0] } 1 .. 3],
                      '500ms', '20ms', 2);
sleep 1;                            # connected through the relays
($ok, $no) = hammer_nodes($t->dir, [map { $_->port } @far], '/far/x',
                          ['far'], 3, 50);
ok($ok <= 306 + 2 * (100 * (0.04 + 0.06) + 6),
   "3 nodes 60 ms from Redis at 50r/s each, a limit of 100r/s: $ok passed "
   . "(exact 306, bound 338), $no refused")
    or diag(map { $_->error_log } @far);
$_->nginx_stop for @far;

# --- Redis pausing: answers late, no outage ----------------------------

# Three nodes at 50r/s each on a limit of 100r/s, a 200 ms interval and a
# 100 ms timeout, while Redis pauses 150 ms every 0.6 s: exchanges time
# out and probes follow, but what is charged arrives within two
# intervals, and must still add up (taken as held back by an outage,
# the charges after each pause passed 735 to 804, bound 698)
my @blip = paced_nodes('blips', [($rport) x 3], '100ms', '200ms', 1);
sleep 1;
my $pauser = fork() // die "fork: $!";
if ($pauser == 0) {
    my $from = time;
    for my $i (1 .. 12) {
        my $wait = $from + $i * 0.6 - time;
        sleep $wait if $wait > 0;
        $t->redis_query($rport, ['CLIENT', 'PAUSE', 150, 'ALL']);
    }
    POSIX::_exit(0);
}
($ok, $no) = hammer_nodes($t->dir, [map { $_->port } @blip], '/blips/x',
                          ['blips'], 6, 50);
waitpid($pauser, 0);
ok($ok <= 606 + 2 * (100 * 0.4 + 6),
   "Redis pausing 150 ms every 0.6 s, 3 nodes at 50r/s on 100r/s: $ok "
   . "passed (exact 606, bound 698), $no refused");
$_->nginx_stop for @blip;

$_->nginx_stop for @nodes;

done_testing();
