#!/usr/bin/perl

# Several backends behind one URL share one Redis and one spool: a
# provider's callback may reach a backend whose worker does not hold the
# job.  The callback is believed there and its job id published on
# pe:hints:DB; the backend holding the job polls it at once, not a
# fallback poll later.  Only the id travels, with the publishing worker's
# random name (so it skips its own echo); a flood through both
# backends still polls a job at most once a second; a subscription that
# broke is made again.

use strict;
use warnings;

use Test::More;
use IO::Socket::INET;
use JSON::PP;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use PETest;
use PEBackend;

# the second backend's port, known before the first starts: the first
# gives it as public_url, so Kling's callbacks go to the second, as a load
# balancer in front of both may send them
my $b2 = do {
    my $l = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, ReuseAddr => 1)
        or die "no free port: $!";
    $l->sockport;
};
my $RUN = 3;
my $s = PEBackend->new(run => 8, public_url => "http://127.0.0.1:$b2",
    kling => { run => $RUN, attrs => 'callbacks=on poll=60s' });
my $t = $s->t;
my $rport = $s->rport;
my $bport = $s->bport;

# the same configuration, Redis, spool and keys, its own port (so its own
# consumer in the stream's group); started once the first holds a job
my $pid2;
sub start_second {
    (my $conf = $s->conf) =~ s/^listen\s+127\.0\.0\.1:\d+/listen 127.0.0.1:$b2/m;
    my $file = $t->write_file('backend2.conf', $conf);
    local $ENV{PE_TEST_FAL_KEY} = $PEBackend::FAL_KEY;
    local $ENV{PE_TEST_KLING_AK} = $PEBackend::KLING_AK;
    local $ENV{PE_TEST_KLING_SK} = $PEBackend::KLING_SK;
    $pid2 = $t->spawn('backend2', $PETest::BACKEND, '-c', $file);
    return wait_port($b2, 10);
}

# the job ids published, read by a subscriber of the test's own
my $sub = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $rport,
                                Timeout => 5) or die "redis: $!";
print $sub "SUBSCRIBE pe:hints:0\r\n";
sysread($sub, my $subscribed, 4096);
like($subscribed, qr/subscribe/, 'the test listens on pe:hints:0');

my $n = 0;
sub job {
    my $r = $s->upload(context => $s->context(jti => 't64-' . ++$n),
                       file => sample('png', 20000),
                       model => $PEBackend::KLING_MODEL,
                       prompt => "fox $n");
    return $r->{json}{id} // '';
}

# the backend whose worker took a job: its consumer in the stream's group
sub holder {
    my ($id) = @_;
    for (1 .. 100) {
        my $entry = $s->record($id)->{entry} // '';
        my $p = $t->redis_query($rport, ['XPENDING', 'pe:jobs', 'pe-workers',
                                         '-', '+', 100]);
        for my $e (ref $p ? @$p : ()) {
            return $e->[1] =~ /:(\d+)$/ ? $1 : '' if $e->[0] eq $entry;
        }
        sleep 0.05;
    }
    return '';
}

sub polls {
    my ($rid) = @_;
    return map { $_->{at} }
           grep { $_->{method} eq 'GET' && $_->{uri} =~ m{/\Q$rid\E$} }
           @{ $t->standin_requests('kling') };
}

sub callback {
    my ($port, $id, $rid) = @_;
    my $body = encode_json({ task_id => $rid, task_status => 'succeed',
                             task_info => { external_task_id => $id } });
    return http_post($port, "/v1/providers/kling/webhook?job=$id", $body,
                     'Content-Type' => 'application/json')->{status};
}

sub published {
    my $got = '';
    my $rin = '';
    vec($rin, fileno($sub), 1) = 1;
    while (select(my $r = $rin, undef, undef, 0.5)) {
        sysread($sub, my $buf, 65536) or last;
        $got .= $buf;
    }
    # RESP: *3 $7 message $N channel $N payload
    my @msgs;
    while ($got =~ /\*3\r\n\$7\r\nmessage\r\n\$\d+\r\n([^\r]*)\r\n\$(\d+)\r\n/g) {
        my ($channel, $len) = ($1, $2);
        push @msgs, [$channel, substr($got, pos($got), $len)];
        pos($got) += $len + 2;
    }
    return @msgs;
}

# --- a job held by the first backend, its callback at the second ---------

my $id = job();
ok($id, 'a job is queued');
my $rid = $s->remote_id($id);
ok($rid, '... and at Kling');
is(holder($id), $bport, '... held by the first backend, the only one');
ok(start_second(), 'a second backend on the same Redis is up')
    or diag($t->read_file('backend2.log'));
is($s->wait_status($id, $RUN + 5, 'succeeded', 'failed'), 'succeeded',
   "the job succeeds once Kling's callback came");
my ($cb) = grep { $_->{url} =~ /\Q$id\E/ }
           @{ $t->standin_callbacks('kling') };
like($cb->{url} // '', qr{^http://127\.0\.0\.1:$b2/},
     '... the callback went to the second backend');
is($cb->{status}, 200, '... which took it');
my @polls = polls($rid);
my @after = grep { $_ >= ($cb->{at} // 0) - 0.5 } @polls;
is(scalar @after, 1, '... and the first backend, which holds the job, '
                     . 'polled it once');
ok(@after && $after[0] - $cb->{at} < 1.5,
   sprintf('... %.2f s after the callback, not a fallback poll 60 s later',
           ($after[0] // 1e9) - ($cb->{at} // 0)));
is(scalar @polls, 1, '... its only poll');
my @msgs = published();
is(scalar @msgs, 1, 'one message through Redis for the callback');
like($msgs[0][1] // '', qr/^[0-9a-f]{16} \Q$id\E\z/,
     '... on pe:hints:0: the publishing worker\'s random name and the '
     . 'job id, nothing else');
is($msgs[0][0], 'pe:hints:0', '... on the database\'s channel');

# --- a flood through both backends: once a second -------------------------

my $id2 = job();
my $rid2 = $s->remote_id($id2);
ok($rid2, 'a second job is at Kling');
sleep 0.5;
my @p0 = polls($rid2);
my $t0 = time;
while (time < $t0 + 2.5) {
    callback($bport, $id2, $rid2);
    callback($b2, $id2, $rid2);
}
sleep 1.2;
my @during = grep { $_ >= $t0 } polls($rid2);
ok(@during >= 2 && @during <= 4,
   scalar(@during) . ' polls for 2.5 s of callbacks to both backends: '
   . 'heeded, at most one a second');
my @gap = map { $during[$_] - $during[$_ - 1] } 1 .. $#during;
my ($least) = sort { $a <=> $b } @gap;
ok(!@gap || $least >= 0.9,
   sprintf('... never two within a second (closest %.2f s)', $least // 0));
published();

# --- the subscription broken: made again ----------------------------------

my $killed = $t->redis_query($rport, ['CLIENT', 'KILL', 'TYPE', 'pubsub']);
ok($killed >= 3, "the backends' subscriptions killed ($killed, with the "
                 . "test's)");

# meanwhile a callback to the backend holding its job is heeded at once:
# it does not go through Redis
my $id4 = job();
my $rid4 = $s->remote_id($id4);
my $held4 = holder($id4);
my $at4 = time;
is(callback($held4, $id4, $rid4), 200,
   'subscriptions down: a callback to the backend holding its job');
my @p4;
for (1 .. 40) {
    last if (@p4 = polls($rid4));
    sleep 0.05;
}
ok(@p4 && $p4[0] - $at4 < 1.5,
   sprintf('... polled %.2f s after it, not through Redis',
           ($p4[0] // 1e9) - $at4));
sleep 6;                    # a subscription is tried again every 5 s
my $id3 = job();
my $rid3 = $s->remote_id($id3);
my $held3 = holder($id3);
my $other3 = $held3 eq $b2 ? $bport : $b2;
my $sent = time;
is(callback($other3, $id3, $rid3), 200,
   'after that, a callback to the backend not holding a job');
my @p3;
for (1 .. 40) {
    last if (@p3 = polls($rid3));
    sleep 0.05;
}
ok(@p3 && $p3[0] - $sent < 1.5,
   sprintf('... the job is polled %.2f s after it',
           ($p3[0] // 1e9) - $sent));

my $log = $t->read_file('backend.log') . $t->read_file('backend2.log');
like($log, qr/hints: the subscription broke/,
     'the broken subscription is in the log');
unlike($log, qr/\Q$rid\E/, 'no provider task id in the logs');

is($t->stop_pid($pid2, 'TERM') >> 8, 0, 'the second backend exits cleanly');
unlike($t->read_file('backend2.log') // '', qr/Sanitizer|runtime error:/,
       '... with no sanitizer report');
$s->finish('the first backend');

done_testing();
