#!/usr/bin/perl

# A Seedance job deleted, or its subject erased, while its task runs at
# ModelArk (backend/provider_seedance.c, against t/lib/seedance-standin):
# ModelArk refuses the DELETE of a running task, which runs on and would
# keep its record and video for days; the backend asks again, 1 s and
# growing, until the task has ended and the DELETE takes its record.
# Meanwhile nothing of the subject is held: the record is gone at once,
# the stream holds only the cancel (the job id, the provider, the URL).
# An ended task's record is deleted too: at once when the job failed,
# was deleted or erased; with the output when its retention ends.

use strict;
use warnings;

use Test::More;
use IO::Socket::INET;
use JSON::PP;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use PETest;
use PETest::HTTP qw(http_get);
use PEBackend;

my $KEY = 'ark-SECRET-5e8b1c';
my $MODEL = 'seedance-1-0-pro-250528';
my $RUN = 4;                # queued 2 s, running 2 s, then succeeded
my $ALICE = 'subject-alice-0000000000000000000000000000';
my $BOB = 'subject-bob-00000000000000000000000000000000';
my $TASKS = '/api/v3/contents/generations/tasks';
$ENV{PE_TEST_ARK_KEY} = $KEY;

my $sport = do {
    my $l = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, Proto => 'tcp',
                                  ReuseAddr => 1) or die "no free port: $!";
    my $p = $l->sockport;
    close $l;
    $p;
};

# polled (no callbacks): the held job may see "running" before or after
# the erasure, and must not come back either way
# outputs kept 3 s here: what ModelArk keeps goes with them
my $s = PEBackend->new(retention => 'upload=0 output=3s record=30d prompt=0',
                       extra => <<"CONF");
provider seedance type=seedance base=http://127.0.0.1:$sport key_env=PE_TEST_ARK_KEY poll=1s;
model $MODEL provider=seedance inputs=image?;
CONF
my $t = $s->t;
$t->{ports}{seedance} = $sport;
$t->standin('seedance', key => $KEY, run => $RUN);

sub task { $t->standin_jobs('seedance')->{$_[0]} // {} }

sub wait_for {
    my ($secs, $cond) = @_;
    my $deadline = time + $secs;
    while (time < $deadline) {
        return 1 if $cond->();
        sleep 0.05;
    }
    return 0;
}

# two jobs, one each of alice's and bob's, running at ModelArk
# a context is good for one request: a fresh one each time
my %sub = (alice => $ALICE, bob => $BOB);
sub ctx { $s->context(sub => $sub{$_[0]}) }

my (%id, %rid);
for my $who (qw(alice bob)) {
    my $r = $s->upload(context => ctx($who),
                       parts => [['prompt', undef, undef,
                                  "the secret garden of $who"],
                                 ['model', undef, undef, $MODEL]]);
    is($r->{status}, 202, "$who: 202") or diag($r->{body});
    $id{$who} = $r->{json}{id} // 'none';
    $rid{$who} = $s->remote_id($id{$who});
    ok($rid{$who}, "$who: the task at ModelArk");
}
for my $who (qw(alice bob)) {
    my $created = task($rid{$who})->{created} // 0;
    sleep 0.05 while time < $created + $RUN / 2 + 0.1;
    like($s->record($id{$who})->{status} // '', qr/^(?:submitted|running)$/,
         "$who: its task running at ModelArk, the job in flight here");
}

# alice deletes her job, bob erases himself, both while their tasks run
is($s->delete("/v1/jobs/$id{alice}", ctx('alice'))->{status}, 200,
   'alice: DELETE of the job: 200');
is($s->delete('/v1/subjects/me', ctx('bob'))->{json}{jobs}, 1,
   'bob: erased, one job');

for my $who (qw(alice bob)) {
    ok(wait_for(3, sub { @{ task($rid{$who})->{deletes} // [] } }),
       "$who: ModelArk is asked to DELETE the task");
    my $first = task($rid{$who})->{deletes}[0] // {};
    is_deeply([@$first{qw(status answer)}], ['running', 409],
              '... while it runs: refused (409)')
        or diag(explain(task($rid{$who})));
    is_deeply($s->record($id{$who}), {}, '... the job gone here at once');
}

# meanwhile: the cancels, and nothing else of either
my $dump = $s->redis_dump;
unlike($dump, qr/alice|bob|secret garden/,
       'while the tasks run: nothing of the subjects or prompts in Redis');
my $stream = $t->redis_query($s->rport, ['XRANGE', 'pe:jobs', '-', '+'])
             // [];
is_deeply([sort map { join ' ', @{ $_->[1] } } @$stream],
          [sort map { "cancel $id{$_} provider seedance url "
                      . "http://127.0.0.1:$sport$TASKS/$rid{$_}" }
                qw(alice bob)],
          '... the stream holds the two cancels: id, provider, URL only');
unlike($t->read_file('backend.log') // '', qr/alice|bob|secret garden/,
       '... nor the log');

for my $who (qw(alice bob)) {
    ok(wait_for($RUN + 8, sub { task($rid{$who})->{deleted} }),
       "$who: once the task has ended, its record deleted at ModelArk")
        or diag(explain(task($rid{$who})));
    my @d = @{ task($rid{$who})->{deletes} // [] };
    ok(@d >= 2, '... by a DELETE after the refused one(s)');
    is_deeply([@{ $d[-1] // {} }{qw(status answer)}], ['succeeded', 200],
              '... of the succeeded task: 200');
    ok(!grep({ $_->{answer} != 409 } @d[0 .. $#d - 1]),
       '... every one before refused as the task ran');
    ok((grep { $_->{status} eq 'running' } @d) <= 4,
       '... asked again with growing delays, not hammered');
    my $r = http_get($sport, "$TASKS/$rid{$who}",
                     Authorization => "Bearer $KEY");
    is($r->{status}, 404, '... and the task is not found there any more');
}

ok(wait_for(3, sub {
       !@{ $t->redis_query($s->rport, ['XRANGE', 'pe:jobs', '-', '+'])
           // [] } }),
   'the cancels done with: the stream is empty');
unlike($s->redis_dump, qr/alice|bob|secret garden|\Q$id{alice}\E|\Q$id{bob}\E/,
       '... and nothing of either job in Redis');
my $log = $t->read_file('backend.log') // '';
unlike($log, qr/alice|bob|secret garden/, '... nor in the log');
unlike($log, qr/job (?:\Q$id{alice}\E|\Q$id{bob}\E) succeeded/,
       '... whose ending no job came back to record');

# --- erased mid-submission, the cancel refused once: asked again -------------

# the creation answers a second late, so the job is deleted before the
# backend knows its task; the first DELETE is refused (injected)
$t->standin_faults('seedance', 'create slow 1', 'delete 409 0 InvalidAction');
my $r = $s->upload(context => ctx('alice'),
                   parts => [['prompt', undef, undef, 'carol\'s secret too'],
                             ['model', undef, undef, $MODEL]]);
my $cid = $r->{json}{id} // 'none';
ok(wait_for(3, sub { ($s->record($cid)->{status} // '') eq 'submitting' }),
   'a job being submitted');
is($s->delete("/v1/jobs/$cid", ctx('alice'))->{status}, 200,
   '... deleted meanwhile: 200');
my $crid;
ok(wait_for(5, sub {
       ($crid) = grep { (task($_)->{request}{content}[0]{text} // '')
                        =~ /carol/ } keys %{ $t->standin_jobs('seedance') };
       $crid && task($crid)->{status};
   }), '... its task, once created, cancelled at ModelArk');
$crid //= '';
my @del = grep { $_->{method} eq 'DELETE' && $_->{uri} eq "$TASKS/$crid" }
          @{ $t->standin_requests('seedance') };
is(scalar @del, 2, '... by a DELETE after the refused one');
is(task($crid)->{status}, 'cancelled', '... the task cancelled');
$log = $t->read_file('backend.log') // '';
like($log, qr/job \Q$cid\E erased while in flight/,
     '... the backend learned of it at the answer');
unlike($log, qr/alice|carol|secret/, '... nothing of the subject logged');
ok(wait_for(3, sub {
       !@{ $t->redis_query($s->rport, ['XRANGE', 'pe:jobs', '-', '+'])
           // [] } }),
   '... and nothing left in the stream');

# --- ended tasks: ModelArk keeps a task's record (the prompt, the images)
# --- for 7 days; deleted once the job's output goes, or at once

sub ended_job {
    my ($who, $prompt) = @_;
    my $r = $s->upload(context => ctx($who),
                       parts => [['prompt', undef, undef, $prompt],
                                 ['model', undef, undef, $MODEL]]);
    my $id = $r->{json}{id} // 'none';
    my $rid = $s->remote_id($id);
    my $st = $s->wait_status($id, $RUN + 6, 'succeeded', 'failed');
    return ($id, $rid, $st);
}

my ($fid, $frid, $fst) = ended_job('alice', 'FAIL-ME in the secret garden');
is($fst, 'failed', 'a job whose task failed');
ok(wait_for(3, sub { task($frid)->{deleted} }),
   '... its task deleted at ModelArk at once: no output to wait for')
    or diag(explain(task($frid)));
isnt($s->record($fid)->{status}, undef, '... its record kept here');

my ($oid, $orid, $ost) = ended_job('alice', 'the secret garden at noon');
is($ost, 'succeeded', 'a job that succeeded');
ok(!task($orid)->{deleted}, '... its task kept at ModelArk while its output '
   . 'is (its video_url is the output)');
ok(wait_for(6, sub { task($orid)->{deleted} }),
   '... and deleted there once the output\'s retention (3 s) ended')
    or diag(explain(task($orid)));
is($s->record($oid)->{status}, 'expired', '... the job expired here');

my ($did, $drid) = ended_job('bob', 'the secret garden at dawn');
my ($eid, $erid) = ended_job('bob', 'the secret garden at dusk');
is($s->delete("/v1/jobs/$eid", ctx('bob'))->{status}, 200,
   'a job that succeeded, deleted by its user before its output expired');
ok(wait_for(3, sub { task($erid)->{deleted} }),
   '... its task deleted at ModelArk at once')
    or diag(explain(task($erid)));
is($s->delete('/v1/subjects/me', ctx('bob'))->{json}{jobs}, 1,
   'bob erases himself: his other ended job');
ok(wait_for(3, sub { task($drid)->{deleted} }),
   '... its task deleted at ModelArk too')
    or diag(explain(task($drid)));
my @dels = map { @{ task($_)->{deletes} // [] } } ($frid, $orid, $drid, $erid);
is_deeply([sort map { $_->{answer} } @dels], [200, 200, 200, 200],
          '... one DELETE each, all taken');
ok(wait_for(3, sub {
       !@{ $t->redis_query($s->rport, ['XRANGE', 'pe:jobs', '-', '+'])
           // [] } }),
   '... and nothing left in the stream');

$s->finish('seedance delete');
done_testing();
