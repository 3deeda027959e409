#!/usr/bin/perl

# The harness itself: the real nginx with the module, a real redis-server
# and the backend start on free loopback ports, the error log audit sees
# what it must, and a bad configuration is refused.

use strict;
use warnings;

use Test::More;

use lib 't/lib';
use PETest;

my $t = PETest->new;

like(`$PETest::NGINX -v 2>&1`, qr{nginx version: nginx/}, 'the real nginx');

my $redis = $t->redis;
is($t->redis_cmd($redis, 'PING'), '+PONG', 'a real redis-server answers');

my $locked = $t->redis(name => 'locked', password => 's3cret-pw');
like($t->redis_cmd($locked, 'PING'), qr/^-NOAUTH/,
     'a password-protected one refuses strangers');

$t->nginx_start(<<'NGX');
    server {
        listen 127.0.0.1:%%PORT%%;
        location / {
            return 200 "decision=$privacy_decision\n";
        }
    }
NGX
my $r = http_get($t->port, '/');
is($r->{body}, "decision=allow\n", 'nginx runs with the module loaded');

# the audit sees a crashed worker and an alert in the real error.log
is(scalar $t->error_log_problems, 0, 'a clean error.log has no problems');
open(my $fh, '>>', $t->dir . '/error.log') or die;
print $fh "2026/01/01 00:00:00 [alert] 1#1: worker process 7 exited on "
        . "signal 11 (core dumped)\n";
print $fh "2026/01/01 00:00:00 [crit] 1#1: open() failed\n";
close $fh;
is(scalar $t->error_log_problems, 2, 'a crash and a [crit] are found');
truncate($t->dir . '/error.log', 0);
$t->nginx_stop;

$t->conf_fails('server { privacy_nonsense on; }',
               qr/unknown directive "privacy_nonsense"/,
               'an unknown directive');

mkdir $t->dir . '/spool';
$t->write_file('k', 'k' x 32);
$t->backend(<<'CONF');
listen 127.0.0.1:%%PORT_backend%%;
spool %%DIR%%/spool;
context_key %%DIR%%/k;
data_key %%DIR%%/k;
CONF
is(http_get($t->port('backend'), '/healthz')->{status}, 200,
   'the backend starts');

done_testing();
