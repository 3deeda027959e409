#!/usr/bin/perl

# Kling, end to end through the edge, the backend, Redis and a
# stand-in speaking Kling's API and checking its JWT as Kling does: a task
# is created with our job id as external_task_id, the image as raw base64,
# a callback URL; the (unsigned) callback is taken only as a hint, the
# state coming from a poll; Kling's codes 1303 (later) and 1301 (content
# policy); a deleted job is forgotten, its late callback changes nothing;
# a backend killed during a submission finds the task by its
# external_task_id instead of making a second one.

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(sha256_hex);
use JSON::PP;
use MIME::Base64 qw(decode_base64);
use Time::HiRes qw(time sleep);

use lib 't/lib';
use PETest;
use PEBackend;

my $RUN = 6;
my $s = PEBackend->new(
    kling => { run => $RUN, attrs => 'callbacks=on poll=60s' });
my $t = $s->t;
my $d = $s->dir;
my $bport = $s->bport;
my $MODEL = $PEBackend::KLING_MODEL;

my $png = sample('png', 30000);
my $alice = $s->context;

sub creates {
    return grep { $_->{method} eq 'POST' }
           @{ $t->standin_requests('kling') };
}

sub b64url_json {
    (my $x = shift) =~ tr{-_}{+/};
    $x .= '=' x ((4 - length($x) % 4) % 4);
    return decode_json(decode_base64($x));
}

# --- through the edge: created, completed by the callback ---------------------

$t->nginx_start(PEBackend::edge_conf($d, $bport));
my %h = (Cookie => 'pe_consent=ai_processing:1; session=COOKIE-SECRET',
         'X-Account' => 'frank@example.com',
         'X-Forwarded-For' => '203.0.113.8');
my $t0 = time;
my $r = $s->upload(port => $t->port, file => $png, model => $MODEL,
                   prompt => 'a fox PROMPT-SECRET-55', headers => \%h);
is($r->{status}, 202, 'through the edge: 202') or diag($r->{raw});
my $id = $r->{json}{id} // 'none';

is($s->wait_status($id, $RUN + 6, 'succeeded', 'failed'), 'succeeded',
   'the job succeeds');
my $took = time - $t0;
ok($took < $RUN + 4, sprintf('... in %.1f s, with the fallback poll a '
                             . 'minute away: the callback woke it', $took));
like($s->record($id)->{output} // '',
     qr{^https://cdn\.klingai\.com/standin/\w+/output\.mp4$},
     '... with the task\'s video');

my @c = creates();
is(scalar @c, 1, 'one task was created');
is($c[0]{uri}, '/v1/videos/image2video', '... by image2video');
my ($jwt) = ($c[0]{headers}{authorization} // '') =~ /^Bearer (\S+)$/;
my ($hd, $pl) = split /\./, $jwt // '';
is(b64url_json($hd)->{alg}, 'HS256', '... a JWT, HS256');
my $claims = b64url_json($pl);
is($claims->{iss}, $PEBackend::KLING_AK, '... issued by the access key');
my $at = $c[0]{at};
ok(abs($claims->{exp} - ($at + 1800)) <= 3, '... expiring in 30 minutes');
ok(abs($claims->{nbf} - ($at - 5)) <= 3, '... valid from 5 s before');
unlike($c[0]{headers}{authorization}, qr/\Q$PEBackend::KLING_SK\E/,
       '... the secret key itself never sent');
my $body = decode_json($c[0]{body});
is_deeply([sort keys %$body],
          [qw(callback_url duration external_task_id image model_name prompt)],
          '... the body: the parameters, model, image, prompt, our id, '
          . 'the callback');
is($body->{model_name}, $MODEL, '... the model');
is($body->{external_task_id}, $id, '... external_task_id is the job id');
unlike($body->{image}, qr/^data:/, '... the image as raw base64');
is(sha256_hex(decode_base64($body->{image})), sha256_hex($png),
   '... byte for byte');
is($body->{callback_url},
   "http://127.0.0.1:$bport/v1/providers/kling/webhook?job=$id",
   '... the callback names the backend\'s route and the job');
my $sent = join "\n", map { JSON::PP->new->canonical->encode($_) }
                      @{ $t->standin_requests('kling') };
unlike($sent, qr/COOKIE-SECRET|frank|203\.0\.113\.8|pe_consent|
                 privacy-context|subject-/xi,
       'Kling got no cookie, account, address, context or subject');
my @polls = grep { $_->{method} eq 'GET' } @{ $t->standin_requests('kling') };
ok(@polls >= 1 && $polls[-1]{uri} =~ m{^/v1/videos/image2video/\w+$},
   'the state came from a poll of the task');
my @cb = @{ $t->standin_callbacks('kling') };
is(scalar @cb, 1, 'the stand-in sent one callback');
is($cb[0]{status}, 200, '... and the backend took it as a hint (200)');
$t->nginx_stop;

# --- a callback is only a hint ---------------------------------------------------

$r = $s->upload(context => $alice, file => $png, model => $MODEL,
                prompt => 'a slow one');
my $jid = $r->{json}{id} // 'none';
my $rid = $s->remote_id($jid);
ok($rid, 'a second job is at Kling');
my $gets = sub { scalar grep { $_->{method} eq 'GET' && $_->{uri} =~ /\Q$rid\E/ }
                        @{ $t->standin_requests('kling') } };
sleep 0.3;
my $before = $gets->();

my $forged = encode_json({ task_id => $rid, task_status => 'succeed',
                           task_info => { external_task_id => $jid },
                           task_result => { videos => [
                               { url => 'https://evil.example/x.mp4' } ] } });
my $res = http_post($bport, "/v1/providers/kling/webhook?job=$jid", $forged,
                    'Content-Type' => 'application/json');
is($res->{status}, 200, 'a callback claiming success: taken as a hint');
my $polled = 0;
for (1 .. 40) {
    last if ($polled = $gets->() > $before);
    sleep 0.05;
}
ok($polled, '... the task is polled at once');
sleep 0.3;
isnt($s->record($jid)->{status}, 'succeeded',
     '... and the claim is not believed: the poll says it runs');
unlike($s->record($jid)->{output} // '', qr/evil/, '... no output taken');

$before = $gets->();
$res = http_post($bport, "/v1/providers/kling/webhook?job=$jid",
                 encode_json({ task_id => 'another-task-id',
                               task_status => 'succeed' }),
                 'Content-Type' => 'application/json');
is($res->{status}, 404, 'a callback about another task: 404');
$res = http_post($bport, "/v1/providers/kling/webhook?job=$id",
                 encode_json({ task_id => $rid, task_status => 'succeed' }),
                 'Content-Type' => 'application/json');
is($res->{status}, 404, '... and one naming another job: 404');
$res = http_post($bport, "/v1/providers/kling/webhook?job=$jid",
                 'x' x (70 * 1024), 'Content-Type' => 'application/json');
is($res->{status}, 413, 'a body over 64 KiB: 413');
sleep 0.5;
is($gets->(), $before, '... none of them made the backend poll');

# --- deleted: no cancel at Kling, the result discarded on arrival -------------

is($s->delete("/v1/jobs/$jid", $s->context)->{status}, 200,
   'DELETE of a job running at Kling: 200');
is($s->get("/v1/jobs/$jid", $alice)->{status}, 404, '... gone at once');
my $cbs = scalar @{ $t->standin_callbacks('kling') };
for (1 .. 200) {
    last if @{ $t->standin_callbacks('kling') } > $cbs;
    sleep 0.05;
}
my ($late) = grep { $_->{url} =~ /\Q$jid\E/ }
             @{ $t->standin_callbacks('kling') };
ok($late, 'Kling\'s callback comes when its task ends');
is($late->{status}, 404, '... and finds no job: 404');
sleep 0.5;
is($s->record($jid)->{status}, undef, '... nothing is written back');
unlike($s->redis_dump, qr/\Q$jid\E/,
       '... nothing of the job in Redis');
ok(!grep({ $_->{uri} =~ /cancel/ } @{ $t->standin_requests('kling') }),
   '... and nothing was sent to a cancel Kling does not have');

# --- Kling's codes ------------------------------------------------------------

$t->standin_faults('kling', 'submit 429 1 1303');
my $mark = scalar creates();
$r = $s->upload(context => $s->context, file => $png, model => $MODEL,
                prompt => 'after 1303');
my $bid = $r->{json}{id} // 'none';
ok($s->remote_id($bid), '1303 (concurrency): tried again, then created');
is(scalar(creates()) - $mark, 2, '... two requests');

$t->standin_faults('kling', 'submit 400 0 1303');
$mark = scalar creates();
$r = $s->upload(context => $s->context, file => $png, model => $MODEL,
                prompt => 'after 1303 in a 400');
ok($s->remote_id($r->{json}{id} // 'none'),
   '1303 in a 400 answer: also tried again');
is(scalar(creates()) - $mark, 2, '... two requests');

$t->standin_faults('kling', 'submit 400 0 1301');
$r = $s->upload(context => $s->context, file => $png, model => $MODEL,
                prompt => 'refused');
my $pid_ = $r->{json}{id} // 'none';
is($s->wait_status($pid_, 10, 'failed', 'succeeded'), 'failed',
   '1301 (content policy): the job fails');
like($s->record($pid_)->{reason} // '',
     qr/^content_policy: provider 400: Trial of content security policy/,
     '... saying so, in Kling\'s words');

# --- killed during a submission: found by external_task_id --------------------

# the task is made at Kling, but its answer never reaches the backend
$t->standin_faults('kling', 'submit slow 2');
$r = $s->upload(context => $s->context, file => $png, model => $MODEL,
                prompt => 'crash while submitting');
my $kid = $r->{json}{id} // 'none';
is($s->wait_status($kid, 5, 'submitting'), 'submitting',
   'a submission in flight');
# killed once Kling has the request (it answers 2 s later), not before
for (1 .. 100) {
    last if grep { ($_->{body} // '') =~ /crash while submitting/ }
            creates();
    sleep 0.05;
}
$s->stop('KILL');
# back once Kling has made the task (its answer, 2 s late, goes nowhere):
# a busy machine may take longer than that
for (1 .. 200) {
    last if grep { ($_->{request}{external_task_id} // '') eq $kid }
            values %{ $t->standin_jobs('kling') };
    sleep 0.05;
}
$s->start;
is($s->wait_status($kid, $RUN + 10, 'succeeded', 'failed'), 'succeeded',
   'after SIGKILL and a restart, the job succeeds');
my @tasks = grep { ($_->{request}{external_task_id} // '') eq $kid }
            values %{ $t->standin_jobs('kling') };
is(scalar @tasks, 1, '... with one task at Kling, not two');
my $log = $t->read_file('backend.log') // '';
like($log, qr/job \Q$kid\E: submission interrupted, found at kling/,
     '... found by its external_task_id');
ok(grep({ $_->{uri} eq "/v1/videos/image2video/$kid" }
        @{ $t->standin_requests('kling') }),
   '... asked for by it');
is($s->record($kid)->{resubmitted}, undef, '... and not resubmitted');

# the submission never reached Kling (answered 503, killed while waiting)
$t->standin_faults('kling', 'submit 503 5');
$r = $s->upload(context => $s->context, file => $png, model => $MODEL,
                prompt => 'crash before it arrived');
my $nid = $r->{json}{id} // 'none';
for (1 .. 100) {
    last if grep { ($_->{body} // '') =~ /crash before it arrived/ }
            creates();
    sleep 0.05;
}
sleep 0.2;
$s->stop('KILL');
$s->start;
is($s->wait_status($nid, $RUN + 10, 'succeeded', 'failed'), 'succeeded',
   'killed while waiting to retry: after a restart the job succeeds');
@tasks = grep { ($_->{request}{external_task_id} // '') eq $nid }
         values %{ $t->standin_jobs('kling') };
is(scalar @tasks, 1, '... one task');
is($s->record($nid)->{resubmitted}, 1,
   '... not found under its id, so submitted again, and marked so');

$log = $t->read_file('backend.log') // '';
unlike($log, qr/\Q$PEBackend::KLING_SK\E|\Q$PEBackend::KLING_AK\E|
                PROMPT-SECRET|\Q$jwt\E/x,
       'no key, token or prompt in the log');

$s->finish('kling');

done_testing();
