#!/usr/bin/perl

# Jobs under faults: a provider that says 429 (with Retry-After) and 503
# before taking a job gets it once; a provider that does not answer a
# submission is not sent it twice; a backend killed with SIGKILL right
# after accepting 10 jobs finishes all 10 after a restart with at most one
# duplicate at the provider; Redis restarting under running jobs; a spool
# file altered or truncated on disk is detected and never sent.

use strict;
use warnings;

use Test::More;
use JSON::PP;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use PETest;
use PEBackend;

my $png = sample('png', 20000);

sub submits {
    my ($t) = @_;
    return grep { $_->{method} eq 'POST' } @{ $t->fal_requests };
}

sub metric {
    my ($s, $name) = @_;
    my $m = http_get($s->bport, '/metrics')->{body} // '';
    return $m =~ /^\Q$name\E (\d+)$/m ? $1 : undef;
}

# --- 429 with Retry-After, then 503, then taken: once -------------------

{
    my $s = PEBackend->new(run => 0.3);
    my $t = $s->t;
    $t->fal_faults('submit 429 1', 'submit 503');
    my $r = $s->upload(context => $s->context, file => $png);
    my $id = $r->{json}{id} // 'none';
    is($s->wait_status($id, 20, 'succeeded', 'failed'), 'succeeded',
       '429 then 503 then taken: the job succeeds');
    my @sub = submits($t);
    is(scalar @sub, 3, '... after three submissions');
    is(scalar keys %{ $t->fal_jobs }, 1,
       '... and exactly one job at the provider');
    is(metric($s, 'privacy_backend_provider_retries_total{provider="fal"}'),
       2, '... two retries counted');
    my @log = $t->read_file('backend.log') =~ /retry in ([\d.]+)s/g;
    ok(@log == 2 && $log[0] >= 1, '... the first waited out Retry-After: 1')
        or diag("@log");
    $s->finish('retries');
}

# --- a provider that takes the submission and never answers ---------------

{
    my $s = PEBackend->new(run => 0.3, timeout => '1s');
    my $t = $s->t;
    $t->fal_faults('submit slow 3');
    my $r = $s->upload(context => $s->context, file => $png);
    my $id = $r->{json}{id} // 'none';
    is($s->wait_status($id, 10, 'failed', 'succeeded'), 'failed',
       'a submission not answered in timeout=1s: the job fails');
    my $rec = $s->record($id);
    like($rec->{reason} // '', qr/^provider_no_answer: .*not resubmitted/,
         '... saying why');
    is($rec->{submit_uncertain}, '1', '... noted as uncertain in the record');
    sleep 3;
    is(scalar(submits($t)), 1, '... and never submitted again');
    is(scalar keys %{ $t->fal_jobs }, 1,
       '... the one the provider took is the only one');

    # a status poll that fails is retried: polls are harmless
    $t->fal_faults('status 503', 'status 500');
    $r = $s->upload(context => $s->context, file => $png);
    $id = $r->{json}{id} // 'none';
    is($s->wait_status($id, 20, 'succeeded', 'failed'), 'succeeded',
       'status polls answered 503 and 500: retried, the job succeeds');
    $s->finish('timeouts');
}

# --- SIGKILL right after accepting 10 jobs --------------------------------

{
    my $s = PEBackend->new(run => 0.5);
    my $t = $s->t;
    my @ids;
    for my $n (1 .. 10) {
        my $r = $s->upload(context => $s->context, file => $png,
                           prompt => "job $n");
        push @ids, $r->{json}{id} if $r->{status} == 202;
    }
    $s->stop('KILL');
    is(scalar @ids, 10, '10 jobs accepted, then the backend is killed');
    my @states = map { $s->record($_)->{status} // '' } @ids;
    note("at the kill: @states");

    $s->start;
    my @end = map { $s->wait_status($_, 30, 'succeeded', 'failed') } @ids;
    is_deeply(\@end, [('succeeded') x 10],
              'after a restart all 10 succeed');
    my $at = scalar keys %{ $t->fal_jobs };
    ok($at >= 10 && $at <= 11,
       "... with at most one duplicate at the provider ($at jobs there)");
    my $resub = grep { $s->record($_)->{resubmitted} } @ids;
    ok($resub <= 1, "... at most one marked resubmitted ($resub)");
    is_deeply([$s->spool_files], [], '... and the spool is empty');
    is($t->redis_query($s->rport,
                       ['XPENDING', 'pe:jobs', 'pe-workers'])->[0], 0,
       '... nothing pending in the stream');
    $s->finish('after SIGKILL');
}

# --- Redis restarts under running jobs -------------------------------------

{
    my $s = PEBackend->new(run => 2, redis => { persist => 1 });
    my $t = $s->t;
    my @ids = map { $s->upload(context => $s->context, file => $png)->{json}{id}
                    // 'none' } 1 .. 3;
    for my $id (@ids) {
        $s->wait_status($id, 10, 'submitted', 'running');
    }
    $t->redis_stop;
    sleep 1;
    $t->redis(persist => 1);
    my @end = map { $s->wait_status($_, 30, 'succeeded', 'failed') } @ids;
    is_deeply(\@end, [('succeeded') x 3],
              'Redis restarted under 3 running jobs: all succeed');
    is(scalar keys %{ $t->fal_jobs }, 3, '... none submitted twice');
    my $r = $s->upload(context => $s->context, file => $png);
    is($r->{status}, 202, '... and uploads are taken again');
    $s->finish('Redis restarted');
}

# --- a spool file altered or truncated on disk ---------------------------

{
    my $s = PEBackend->new(run => 0.3);
    my $t = $s->t;
    my $d = $s->dir;
    # held back by the provider long enough to go at the files
    $t->fal_faults('submit 429 60', 'submit 429 60');
    my @ids = map { $s->upload(context => $s->context, file => $png)->{json}{id}
                    // 'none' } 1 .. 2;
    my $deadline = time + 10;
    sleep 0.1 while time < $deadline && submits($t) < 2;
    $s->stop('KILL');

    my $f = "$d/spool/$ids[0].media";
    truncate($f, (-s $f) - 100);
    $f = "$d/spool/$ids[1].media";
    open(my $fh, '+<', $f) or die $!;
    binmode $fh;
    seek($fh, 5000, 0);
    read($fh, my $byte, 1);
    seek($fh, 5000, 0);
    print $fh chr(ord($byte) ^ 1);
    close $fh;

    my $before = scalar submits($t);
    $s->start;
    for my $id (@ids) {
        is($s->wait_status($id, 10, 'failed', 'succeeded'), 'failed',
           'a spool file truncated or altered: the job fails');
        like($s->record($id)->{reason} // '', qr/^upload_corrupt/,
             '... as upload_corrupt');
    }
    sleep 0.5;
    is(scalar submits($t), $before, '... and nothing more was sent');
    is(scalar keys %{ $t->fal_jobs }, 0, '... no job at the provider');
    like($t->read_file('backend.log'), qr/upload unusable, nothing sent/,
         '... the log says so');
    is_deeply([$s->spool_files], [], '... and the bad files are gone');
    $s->finish('tampered files');
}

done_testing();
