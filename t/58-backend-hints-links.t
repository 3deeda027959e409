#!/usr/bin/perl

# Hardening of the backend against an attacker:
# - a flood of callbacks (Kling's are unsigned) makes a job polled at most
#   once a second, those in between coalesced and not lost;
# - a media link is not used up by a HEAD or a broken download, serves a
#   bounded number of GETs while its job runs, and is gone at its end;
# - erasure deletes the subject's keys in the edge's sync=redis limit
#   zones named by subject_limit_zones.

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(hmac_sha256 sha256_hex);
use IO::Socket::INET;
use JSON::PP;
use POSIX ();
use Time::HiRes qw(time sleep);

use lib 't/lib';
use PETest;
use PEBackend;

my $RUN = 10;
my $s = PEBackend->new(run => 8,
    kling => { run => $RUN, attrs => 'callbacks=on poll=60s' });
my $t = $s->t;
my $d = $s->dir;
my $bport = $s->bport;
# a context per request, as the edge signs them (a write spends its jti)
my $n = 0;
sub alice { return $s->context(jti => 't58-' . ++$n) }

# --- callbacks: a job polled at most once a second ----------------------------

my $r = $s->upload(context => alice(), file => sample('png', 30000),
                   model => $PEBackend::KLING_MODEL, prompt => 'a hinted fox');
my $kid = $r->{json}{id} // 'none';
my $rid = $s->remote_id($kid);
ok($rid, 'a job is at Kling');
my ($create) = grep { $_->{method} eq 'POST'
                      && ($_->{body} // '') =~ /\Q$kid\E/ }
               @{ $t->standin_requests('kling') };
my $created = $create->{at} // time;

# the times the task was polled
sub polls {
    return map { $_->{at} }
           grep { $_->{method} eq 'GET' && $_->{uri} =~ m{/\Q$rid\E$} }
           @{ $t->standin_requests('kling') };
}

my $forged = encode_json({ task_id => $rid, task_status => 'succeed',
                           task_info => { external_task_id => $kid },
                           task_result => { videos => [
                               { url => 'https://evil.example/x.mp4' } ] } });
sub hint {
    return http_post($bport, "/v1/providers/kling/webhook?job=$kid", $forged,
                     'Content-Type' => 'application/json')->{status};
}

# four clients, three seconds, as fast as they can
my $FLOOD = 3;
my $t0 = time;
my @kids;
for my $c (1 .. 4) {
    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        my $ok = 0;
        while (time < $t0 + $FLOOD) {
            $ok++ if hint() == 200;
        }
        $t->write_file("flood-$c", $ok);
        POSIX::_exit(0);
    }
    push @kids, $pid;
}
waitpid($_, 0) for @kids;
my $t1 = time;
my $sent = 0;
$sent += $t->read_file("flood-$_") // 0 for 1 .. 4;
ok($sent > 100, "a flood of forged callbacks: $sent answered 200 in "
                . "$FLOOD s");
sleep 1.2;
my $window = $t1 + 1.1 - $t0;
my @during = grep { $_ >= $t0 && $_ <= $t0 + $window } polls();
ok(@during >= 2, scalar(@during) . ' polls of the task meanwhile: the '
                 . 'hints were heeded');
ok(@during <= int($window) + 1, '... at most one a second ('
                                . scalar(@during) . ' in '
                                . sprintf('%.1f', $window) . ' s)');
my @gap = map { $during[$_] - $during[$_ - 1] } 1 .. $#during;
my ($least) = sort { $a <=> $b } @gap;
ok(!@gap || $least >= 0.9,
   sprintf('... never two within a second (closest %.2f s)', $least // 0));
isnt($s->record($kid)->{status}, 'succeeded', '... and none was believed');

# a hint that comes just after a poll is coalesced into the next, not lost
my @before = polls();
sleep 0.05 while time - ($before[-1] // 0) < 1.2;
hint();
my @p1;
for (1 .. 40) {
    last if (@p1 = polls()) > @before;
    sleep 0.05;
}
is(scalar @p1, @before + 1, 'a hint a second after the last poll: polled '
                            . 'at once');
is(hint(), 200, '... and another at once after it: taken');
sleep 2;
my @p2 = polls();
is(scalar @p2, @p1 + 1, '... it makes one poll more');
my $gap = ($p2[-1] // 0) - ($p1[-1] // 0);
ok($gap >= 0.9 && $gap <= 2,
   sprintf('... a second after the one before (%.2f s)', $gap));

# the genuine callback, just after a poll a forged one caused: it is heeded
# within a second and the job ends
sleep 0.02 while time < $created + $RUN - 0.4;
hint();
is($s->wait_status($kid, 10, 'succeeded', 'failed'), 'succeeded',
   'the task\'s own callback, a moment after that poll: the job succeeds');
my $done = time;
my ($cb) = grep { $_->{url} =~ /\Q$kid\E/ }
           @{ $t->standin_callbacks('kling') };
is($cb->{status}, 200, '... its callback taken');
ok($done - ($cb->{at} // 0) < 2,
   sprintf('... %.2f s after it came, though it came within a second of '
           . 'the last poll', $done - ($cb->{at} // 0)));
like($s->record($kid)->{output} // '', qr{^https://cdn\.klingai\.com/},
     '... with the task\'s own video');
my @all = polls();
my @allgap = sort { $a <=> $b } map { $all[$_] - $all[$_ - 1] } 1 .. $#all;
ok(!@allgap || $allgap[0] >= 0.9,
   sprintf('in all, %d polls, never two within a second', scalar @all));

# --- media links: HEAD, a broken download, a bounded number of GETs -----------

# the submission waits 3 s at fal before it fetches the link itself
$t->fal_faults('submit slow 3');
my $mp4 = sample('mp4', 8_000_000);
$r = $s->upload(context => alice(), file => $mp4, type => 'video/mp4',
                prompt => 'waves');
my $vid = $r->{json}{id} // 'none';
my $sub;
for (1 .. 200) {
    ($sub) = grep { ($_->{body} // '') =~ /\Q$vid\E/ } @{ $t->fal_requests };
    last if $sub;
    sleep 0.05;
}
my $link = eval { decode_json($sub->{body})->{video_url} } // '';
my ($path) = $link =~ m{^http://[^/]+(/v1/media/\S+)$};
ok($path, 'a video goes by a link') or $path = '/v1/media/none';

sub head {
    return http($bport, "HEAD $path HTTP/1.1\r\nHost: localhost\r\n"
                        . "Connection: close\r\n\r\n", all => 1);
}

$r = head();
is($r->{status}, 200, 'HEAD of the link: 200');
is($r->{headers}{'content-length'}, length $mp4, '... the length of the '
                                                 . 'video');
is($r->{headers}{'content-type'}, 'video/mp4', '... its type');
is(length($r->{raw}) - index($r->{raw}, "\r\n\r\n") - 4, 0, '... no body');
is(head()->{status}, 200, 'HEAD again: 200, a HEAD uses nothing up');

# a download broken off after a few bytes
{
    my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $bport) or die "connect: $!";
    binmode $c;
    print $c "GET $path HTTP/1.1\r\nHost: localhost\r\n"
             . "Connection: close\r\n\r\n";
    my $got = '';
    while (length $got < 70_000) {
        my $n = sysread($c, $got, 65536, length $got);
        last unless $n;
    }
    like($got, qr{^HTTP/1\.1 200 }, 'a GET broken off after '
                                    . length($got) . ' bytes');
    close $c;
    sleep 0.3;
}

for my $n (1 .. 3) {
    $r = http_get($bport, $path);
    is($r->{status}, 200, "then a whole GET ($n): 200");
    is(sha256_hex($r->{body}), sha256_hex($mp4), '... the video, whole');
}
is($s->wait_status($vid, 10, 'submitted', 'running'), 'submitted',
   'the provider\'s own GET, the fifth: the job is submitted');
my ($vjob) = grep { ($_->{input}{video_url} // '') =~ /\Q$vid\E/ }
             values %{ $t->fal_jobs };
is($vjob->{fetched}{video_url}{sha256}, sha256_hex($mp4),
   '... the provider got the video, whole');
ok(-e "$d/spool/$vid.media", '... the upload is still held');
is(http_get($bport, $path)->{status}, 410,
   'a sixth GET while the job waits at the provider: 410, five are all');
is(head()->{status}, 410, '... and HEAD says so too');
is($s->wait_status($vid, 10, 'running'), 'running', 'the job runs');
my $gone = 0;
for (1 .. 40) {
    last if ($gone = !-e "$d/spool/$vid.media");
    sleep 0.05;
}
ok($gone, 'upload=0: fetched whole and running at the provider, the upload '
          . 'goes');
is($s->wait_status($vid, 15, 'succeeded', 'failed'), 'succeeded',
   'the job succeeds');
is(http_get($bport, $path)->{status}, 410, 'the link after the end: 410');
is(head()->{status}, 410, '... HEAD too');

# a link whose job ended before anyone fetched it: gone at once
$t->fal_faults('submit slow 2');
$r = $s->upload(context => alice(), file => $mp4, type => 'video/mp4',
                prompt => 'deleted before the fetch');
my $did = $r->{json}{id} // 'none';
my $dsub;
for (1 .. 200) {
    ($dsub) = grep { ($_->{body} // '') =~ /\Q$did\E/ } @{ $t->fal_requests };
    last if $dsub;
    sleep 0.05;
}
my ($dpath) = (eval { decode_json($dsub->{body})->{video_url} } // '')
              =~ m{^http://[^/]+(/v1/media/\S+)$};
is($s->delete("/v1/jobs/$did", alice())->{status}, 200,
   'a job deleted while its link waits to be fetched');
is(http_get($bport, $dpath // '/v1/media/none')->{status}, 410,
   '... its link: 410');
sleep 2.5;
unlike($s->redis_dump, qr/\Q$did\E/, '... and nothing of it in Redis, no '
                                     . 'count of its link either');

$s->finish('the hinted backend');

# --- erasure: the subject's keys in the edge's limit zones ----------------

{
    my $e = PEBackend->new(
        extra => "subject_limit_zones per_subject per_day;\n");
    my $et = $e->t;
    my $ed = $e->dir;
    my $rport = $e->rport;
    my $ebport = $e->bport;
    $et->nginx_start(<<"EOF");
    privacy_key $ed/context.key;
    privacy_consent_category ai_processing explicit;
    privacy_consent_cookie pe_consent kv;
    privacy_subject \$http_x_account;
    privacy_redis 127.0.0.1:$rport;
    privacy_limit_zone \$privacy_subject zone=per_subject:1m rate=10r/m
                       sync=redis;
    privacy_limit_zone \$privacy_subject zone=per_day:1m rate=50r/d
                       sync=redis;
    privacy_limit_zone \$binary_remote_addr zone=per_addr:1m rate=30r/m
                       sync=redis;

    server {
        listen 127.0.0.1:%%PORT%%;

        location /v1/ {
            privacy_require ai_processing;
            privacy_limit zone=per_subject burst=5 nodelay;
            privacy_limit zone=per_day burst=49 nodelay;
            privacy_limit zone=per_addr burst=10 nodelay;
            proxy_set_header Privacy-Context \$privacy_context;
            proxy_pass http://127.0.0.1:$ebport;
        }
    }
EOF

    # the edge's keys, derived here from docs/directives.md, not the module's code
    my $key = $e->{ckey};
    my $limit_key = sub {
        my ($zone, $account) = @_;
        my $pseudonym = b64url(hmac_sha256($account, $key));
        return "privacy:{$zone:" . b64url(hmac_sha256($pseudonym, $key))
               . '}';
    };
    my $as = sub {
        my ($account, $method, $uri) = @_;
        return http($et->port, "$method $uri HTTP/1.1\r\nHost: localhost\r\n"
                    . "Cookie: pe_consent=ai_processing:1\r\n"
                    . "X-Account: $account\r\nConnection: close\r\n\r\n");
    };
    my $exists = sub { $et->redis_query($rport, ['EXISTS', $_[0]]) };

    is($as->('frank@example.com', 'GET', '/v1/jobs')->{status}, 200,
       'through the edge: frank');
    is($as->('grace@example.com', 'GET', '/v1/jobs')->{status}, 200,
       '... and grace');
    my @frank = map { $limit_key->($_, 'frank@example.com') }
                qw(per_subject per_day);
    my @grace = map { $limit_key->($_, 'grace@example.com') }
                qw(per_subject per_day);
    is_deeply([map { $exists->($_) } @frank, @grace], [1, 1, 1, 1],
              'the edge keeps their keys in its per-subject zones');

    my $r = $as->('frank@example.com', 'DELETE', '/v1/subjects/me');
    is($r->{status}, 200, 'frank erases everything');
    is_deeply([map { $exists->($_) } @frank], [0, 0],
              '... his keys in the zones of subject_limit_zones are gone');
    is_deeply([map { $exists->($_) } @grace], [1, 1],
              '... grace\'s stay');
    my ($addr) = grep { /^privacy:\{per_addr:/ }
                 @{ $et->redis_query($rport, ['KEYS', 'privacy:*']) // [] };
    ok($addr, '... and the per-address key, not derived from a subject');
    my $pttl = $et->redis_query($rport, ['PTTL', $addr // 'none']);
    ok($pttl > 0 && $pttl <= 11 * 2000 + 1,
       "... expires by itself within (burst + 1) / rate, 22 s ($pttl ms)");
    my $fp = b64url(hmac_sha256('frank@example.com', $key));
    my $fh = b64url(hmac_sha256($fp, $key));
    my @left = grep { /\Q$fp\E|\Q$fh\E/ }
               @{ $et->redis_query($rport, ['KEYS', '*']) // [] };
    is_deeply(\@left, [], '... nothing in Redis derives from frank any more');

    $r = $as->('grace@example.com', 'DELETE', '/v1/jobs/'
                                              . ('0' x 32));
    is($r->{status}, 404, 'deleting one job (none here) ...');
    is_deeply([map { $exists->($_) } @grace], [1, 1],
              '... leaves the limit keys: only erasure takes them');

    $et->nginx_stop;
    $e->finish('the erasing backend');

    # zone names as the edge's keys hold them, each once
    local $ENV{PE_TEST_FAL_KEY} = 'x';
    for my $bad (['subject_limit_zones "a{b";', qr/invalid zone name in /],
                 ['subject_limit_zones a:b;', qr/invalid zone name in /],
                 ['subject_limit_zones per_day;',
                  qr/duplicate zone "per_day" in /],
                 ['subject_limit_zones;', qr/invalid number of arguments/]) {
        my $f = $et->write_file('bad.conf', $e->conf . "$bad->[0]\n");
        my $out = `$PETest::BACKEND -t -c $f 2>&1`;
        like($out, $bad->[1], "-t refuses \"$bad->[0]\"");
    }
}

done_testing();
