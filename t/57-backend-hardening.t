#!/usr/bin/perl

# The backend's hardening against an attacker:
#   - a signed context lives at most five minutes, and one that may change
#      something (POST, DELETE) is good for one request: a replay is
#      refused, while reads may repeat and the edge's traffic (a context
#      per request) goes on;
#   - provider answers and callbacks are JSON that may carry \u0000: a NUL
#      in a log is no reason to fail a job, and one in an id or a URL is
#      refused, never cut short;
#   - one address holding many idle, half-sent connections leaves the
#      backend answering everyone else, and idle connections are closed
#      after the configured timeout.

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(hmac_sha256);
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use MIME::Base64 qw(decode_base64 encode_base64);
use POSIX ();
use Time::HiRes qw(time sleep);

use lib 't/lib';
use PETest;
use PEBackend;

my $s = PEBackend->new(replicate => { run => 1, webhooks => 1,
                                      attrs => 'poll=60s' });
my $t = $s->t;
my $d = $s->dir;
my $bport = $s->bport;
my $rport = $s->rport;
my $png = sample('png', 20000);
my $REP = $PEBackend::REPLICATE_MODEL;

sub jobs_in_redis {
    return scalar grep { /^pe:job:/ }
        @{ $t->redis_query($rport, ['KEYS', 'pe:job:*']) // [] };
}

# --- how long a context lives -------------------------------------------------

my $now = int time;
for my $c ([365 * 86400, 401, 'a year'], [301, 401, '301 s'],
           [300, 200, '300 s'], [60, 200, 'the edge\'s 60 s'])
{
    my ($life, $status, $name) = @$c;
    my $r = $s->get('/v1/jobs', $s->context(iat => $now, exp => $now + $life));
    is($r->{status}, $status, "a context valid for $name: $status");
    next if $status == 200;
    is($r->{json}{error}, 'context_invalid', '... context_invalid');
    like($r->{json}{reason} // '', qr/valid for more than 300 s/,
         '... valid for too long');
}

my $r = $s->upload(context => $s->context(iat => $now,
                                          exp => $now + 365 * 86400),
                   file => $png);
is($r->{status}, 401, 'an upload with a context valid for a year: 401');
is(jobs_in_redis(), 0, '... nothing stored');

# --- a context that writes is good once ---------------------------------------

my $ctx = $s->context;
$r = $s->upload(context => $ctx, file => $png);
is($r->{status}, 202, 'an upload: 202') or diag($r->{raw});
my $id = $r->{json}{id} // 'none';
my @spool = $s->spool_files;

$r = $s->upload(context => $ctx, file => $png);
is($r->{status}, 401, 'the same context again for another upload: 401');
is($r->{json}{error}, 'context_invalid', '... context_invalid');
is($r->{json}{reason}, 'context replayed', '... replayed');
is(jobs_in_redis(), 1, '... no second job');
is_deeply([$s->spool_files], \@spool, '... nor a file in the spool');

is($s->get("/v1/jobs/$id", $ctx)->{status}, 200,
   'a read with the context of the upload: 200');
is($s->get("/v1/jobs/$id", $ctx)->{status}, 200, '... and again: reads '
                                                  . 'may repeat');
my $read = $s->context;
is($s->get('/v1/jobs', $read)->{status}, 200, 'a fresh context read with');
my $id2 = $s->upload(context => $read, file => $png)->{json}{id} // 'none';
like($id2, qr/^[0-9a-f]{32}$/, '... may still make one write');

my $del = $s->context;
is($s->delete("/v1/jobs/$id", $del)->{status}, 200, 'a DELETE: 200');
$r = $s->delete("/v1/jobs/$id2", $del);
is($r->{status}, 401, 'its context again, for another job: 401');
is($r->{json}{reason}, 'context replayed', '... replayed');
ok($s->record($id2)->{status}, '... and that job is still there');

my $erase = $s->context;
is($s->delete('/v1/subjects/me', $erase)->{json}{status}, 'erased',
   'an erasure: erased');
my $id3 = $s->upload(context => $s->context, file => $png)->{json}{id}
          // 'none';
$r = $s->delete('/v1/subjects/me', $erase);
is($r->{status}, 401, 'the erasure\'s context again: 401');
is($r->{json}{reason}, 'context replayed', '... replayed');
ok($s->record($id3)->{status}, '... and the newer job is still there');

# a context without a jti cannot be spent once: the edge always sends one
my %claims = (sub => 'subject-alice-0000000000000000000000000000',
              reg => 'DE', grp => 'eea', con => ['ai_processing'],
              gpc => JSON::PP::false, iat => int(time),
              exp => int(time) + 60);
my $h = b64url('{"alg":"HS256","typ":"JWT"}');
my $p = b64url(JSON::PP->new->canonical->encode(\%claims));
my $nojti = "$h.$p." . b64url(hmac_sha256("$h.$p", 'c' x 32));
$r = $s->upload(context => $nojti, file => $png);
is($r->{status}, 401, 'a write context without a jti: 401');
is($r->{json}{reason}, 'context has no jti', '... no jti');
is($s->get('/v1/jobs', $nojti)->{status}, 200, '... a read with it: 200');

# what Redis holds of it: a mark named by an HMAC, gone when it expires
my $jti = "jti-IN-CLEAR-$$";
is($s->upload(context => $s->context(jti => $jti), file => $png)
       ->{status}, 202, 'an upload with a known jti: 202');
unlike($s->redis_dump, qr/IN-CLEAR/, '... Redis holds no jti in the clear');
my @marks = grep { /^pe:ctx:[A-Za-z0-9_-]{43}$/ }
            @{ $t->redis_query($rport, ['KEYS', '*']) };
ok(@marks >= 5, scalar(@marks) . ' marks, pe:ctx:HMAC');
my $ttl = $t->redis_query($rport, ['PTTL', $marks[0]]) // -1;
ok($ttl > 0 && $ttl <= 91_000, "... each until its context expires ($ttl ms)");

# the edge signs a context per request: its clients never meet the mark
$t->nginx_start(PEBackend::edge_conf($d, $bport));
my %through = (Cookie => 'pe_consent=ai_processing:1',
               'X-Account' => 'dora@example.com');
my @ids;
for my $n (1 .. 2) {
    $r = $s->upload(port => $t->port, file => $png, headers => \%through);
    is($r->{status}, 202, "through the edge, upload $n: 202")
        or diag($r->{raw});
    push @ids, $r->{json}{id} // 'none';
}
my $hdr = join '', map { "$_: $through{$_}\r\n" } sort keys %through;
for my $jid (@ids) {
    $r = http($t->port, "DELETE /v1/jobs/$jid HTTP/1.1\r\nHost: localhost\r\n"
                        . "${hdr}Connection: close\r\n\r\n");
    is($r->{status}, 200, 'through the edge, a DELETE: 200');
}
$t->nginx_stop;

# --- NUL in prompts, provider answers and callbacks --------------------------

# a prompt with a NUL would reach the provider cut short at it
{
    my $r = $s->upload(context => $s->context, file => $png,
                       prompt => "a cat\0 and then the rest");
    is($r->{status}, 400, 'a prompt with a NUL byte: 400');
    is($r->{json}{error}, 'invalid_prompt', '... invalid_prompt');
}

# the stand-in's answers carry a NUL in the prediction's logs, in its
# create answer, every poll and its webhook
$r = $s->upload(context => $s->context, file => $png, model => $REP,
                prompt => 'a heron LOGS-NUL');
my $nid = $r->{json}{id} // 'none';
is($s->wait_status($nid, 10, 'succeeded', 'failed'), 'succeeded',
   'a prediction whose logs hold \u0000: succeeded')
    or diag(explain($s->record($nid)));
my $nrid = $s->record($nid)->{remote_id} // 'none';
my ($cb) = grep { $_->{body} =~ /"id":"\Q$nrid\E"/ }
           @{ $t->standin_callbacks('replicate') };
like($cb->{body} // '', qr/\\u0000/, '... its webhook carried \u0000');
is($cb->{status}, 200, '... and was taken (200)');

# a NUL where a string is used: refused, never cut short at the NUL
for my $c (['ID-NUL', 'its id'], ['URL-NUL', 'the URL to poll']) {
    my ($tag, $what) = @$c;
    $r = $s->upload(context => $s->context, file => $png, model => $REP,
                    prompt => "a heron $tag");
    my $bid = $r->{json}{id} // 'none';
    is($s->wait_status($bid, 10, 'succeeded', 'failed'), 'failed',
       "an answer with \\u0000 in $what: the job fails");
    my $rec = $s->record($bid);
    like($rec->{reason} // '', qr/^provider_invalid_answer/,
         '... as an answer not understood');
    is($rec->{remote_id} // '', '', '... keeping no id cut at the NUL');
}

# callbacks: signed as Replicate signs them, about a job in flight
my $wid = $s->upload(context => $s->context, file => $png, model => $REP,
                     prompt => 'a slow heron')->{json}{id} // 'none';
my $wrid = $s->remote_id($wid);
my $n = 0;
sub webhook {
    my ($payload) = @_;
    my $msg = 'msg_nul' . ++$n;
    my $ts = int time;
    (my $k = $PEBackend::REPLICATE_WHSEC) =~ s/^whsec_//;
    my $sig = encode_base64(hmac_sha256("$msg.$ts.$payload", decode_base64($k)),
                            '');
    my $res = http_post($bport, "/v1/providers/replicate/webhook?job=$wid",
                        $payload, 'webhook-id' => $msg,
                        'webhook-timestamp' => $ts,
                        'webhook-signature' => "v1,$sig",
                        'Content-Type' => 'application/json');
    $res->{json} = eval { decode_json($res->{body}) } // {};
    return $res;
}
$r = webhook(qq({"id":"$wrid","status":"processing","logs":"a\\u0000b"}));
is($r->{status}, 200, 'a callback with \u0000 in its logs: 200');
is($r->{json}{accepted}, JSON::PP::true, '... accepted');
$r = webhook(qq({"id":"$wrid\\u0000","status":"succeeded"}));
is($r->{status}, 404, 'a callback whose id is the job\'s and \u0000: 404');
is($r->{json}{error}, 'not_found', '... not about the job, not malformed');
$r = webhook(qq({"id":"$wrid","logs":"\\u0000"));
is($r->{status}, 400, 'a callback that is not JSON: still 400');

# --- connections -------------------------------------------------------------

# n connections from $addr, each with half a request sent
sub idle_from {
    my ($addr, $port, $n) = @_;
    my @socks;
    for (1 .. $n) {
        my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $port,
                                      LocalAddr => $addr, Proto => 'tcp',
                                      Timeout => 1) or last;
        syswrite($c, "GET /v1/jobs HTTP/1.1\r\nHost: b\r\n");
        push @socks, $c;
    }
    return @socks;
}

# how many of them the backend has closed; those leave the list
sub closed {
    my ($list) = @_;
    my @open;
    for my $c (@$list) {
        my $buf;
        if (IO::Select->new($c)->can_read(0) && !sysread($c, $buf, 4096)) {
            close $c;
        } else {
            push @open, $c;
        }
    }
    my $n = @$list - @open;
    @$list = @open;
    return $n;
}

SKIP: {
    skip 'fewer than 1,200 descriptors', 4
        if (POSIX::sysconf(POSIX::_SC_OPEN_MAX()) // 0) < 1200;

    my @idle = idle_from('127.0.0.9', $bport, 1100);
    is(scalar @idle, 1100, '1,100 half-sent connections from 127.0.0.9');
    sleep 0.5;
    my $held = 1100 - closed(\@idle);
    cmp_ok($held, '<=', 256, "... the backend holds at most 256 ($held)");
    my $t0 = time;
    $r = http_get($bport, '/healthz');
    my $took = time - $t0;
    is($r->{status}, 200, 'meanwhile a request from 127.0.0.1: 200');
    cmp_ok($took, '<', 1, sprintf('... promptly (%.2f s)', $took));
    close $_ for @idle;
}

$s->finish('the backend');

# a short timeout, a small limit: what is over the limit is closed at once,
# what is idle once the timeout has passed
my $s2 = PEBackend->new(listen => 'per_ip=8 timeout=2s');
my $t2 = $s2->t;
my $t0 = time;
my @idle = idle_from('127.0.0.9', $s2->bport, 20);
sleep 0.5;
is(closed(\@idle), 12, '20 idle from one address, per_ip=8: 12 closed at '
                       . 'once');
is(http_get($s2->bport, '/healthz')->{status}, 200,
   '... and 127.0.0.1 is answered');
while (@idle && time - $t0 < 6) {
    sleep 0.1;
    closed(\@idle);
}
my $after = time - $t0;
is(scalar @idle, 0, sprintf('the 8 held are closed by the timeout (%.1f s)',
                            $after));
cmp_ok($after, '>=', 1.5, '... not before it');
close $_ for @idle;

# the limits as configuration
sub check_conf {
    my ($listen) = @_;
    my $conf = $t2->read_file('backend.conf');
    $conf =~ s/^listen[^\n]*/listen 127.0.0.1:9 $listen;/m;
    my $file = $t2->write_file('check.conf', $conf);
    local $ENV{PE_TEST_FAL_KEY} = 'k';
    my $out = `'$PETest::BACKEND' -t -c '$file' 2>&1`;
    return ($? >> 8, $out);
}
for my $c (['per_ip=0', 'invalid per_ip "0"'],
           ['per_ip=99999', 'invalid per_ip "99999"'],
           ['timeout=0', 'invalid timeout "0"'],
           ['timeout=2h', 'invalid timeout "2h"'],
           ['backlog=5', 'invalid parameter "backlog=5"'])
{
    my ($bad, $why) = @$c;
    my ($rc, $out) = check_conf($bad);
    is($rc, 1, "listen $bad: refused");
    like($out, qr/\Q$why\E in "listen" directive/, "... $why");
}
my ($rc, $out) = check_conf('per_ip=1024 timeout=1m');
is($rc, 0, 'listen per_ip=1024 timeout=1m: accepted') or diag($out);

$s2->finish('the second backend');

done_testing();
