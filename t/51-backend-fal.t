#!/usr/bin/perl

# Jobs end to end with fal: an upload becomes a job at fal.ai (the stand-in,
# real HTTP, fal's queue API) and comes back with an output URL; the
# provider receives exactly the prompt, the parameters and the media;
# the spool never holds plaintext and is empty once the provider has the
# upload (upload=0); Redis never holds the prompt (prompt=0); one subject
# never reaches another's job; history, export, deletion and erasure; a
# video goes by a signed link, gone once its job ended; retention runs on
# schedule.

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

my $s = PEBackend->new(run => 0.6);
my $t = $s->t;
my $d = $s->dir;

my $png = sample('png', 20000);
my $prompt = 'a cat surfing PROMPT-SECRET-51';
my $alice = $s->context;
my $alice_sub = 'subject-alice-0000000000000000000000000000';
my $mallory = $s->context(sub => 'subject-mallory-000000000000000000000000');

# --- upload -> 202 -> succeeded, with the output URL ---------------------

# the stand-in holds the submission for a moment, so the spool can be
# looked at while the job is in flight
$t->fal_faults('submit slow 1');

my $r = $s->upload(context => $alice, file => $png, prompt => $prompt,
                   params => '{"duration":"5","aspect_ratio":"16:9"}');
is($r->{status}, 202, 'an upload: 202') or diag($r->{raw});
my $id = $r->{json}{id} // 'none';

is($s->wait_status($id, 5, 'submitting'), 'submitting',
   'the worker takes it and submits it');
my @files = $s->spool_files;
is_deeply(\@files, ["$id.media", "$id.prompt"],
          'the spool holds the media and the prompt while in flight');
my $spooled = join '', map { $t->read_file("spool/$_") } @files;
ok(index($spooled, substr($png, 16, 64)) < 0
   && index($spooled, 'PROMPT-SECRET') < 0,
   '... neither in the clear');

is($s->wait_status($id, 15, 'succeeded', 'failed'), 'succeeded',
   'the job succeeds');
$r = $s->get("/v1/jobs/$id", $alice);
is($r->{status}, 200, 'GET /v1/jobs/ID: 200');
is($r->{json}{status}, 'succeeded', '... succeeded');
like($r->{json}{output} // '',
     qr{^https://v3\.fal\.media/files/standin/[0-9a-f-]{36}/output\.mp4$},
     '... with the output URL the provider gave');

is_deeply([$s->spool_files], [], 'upload=0, prompt=0: the spool is empty');
my $dump = $s->redis_dump;
unlike($dump, qr/PROMPT-SECRET/, 'Redis never held the prompt');
my $rec = $s->record($id);
like($rec->{remote_id} // '', qr/^[0-9a-f-]{36}$/,
     'the provider\'s request id is in the record');

# --- what the provider received ------------------------------------------

my $reqs = $t->fal_requests;
my @submits = grep { $_->{method} eq 'POST' } @$reqs;
is(scalar @submits, 1, 'the provider got one submission');
my $sub = $submits[0] // { headers => {}, body => '{}' };
is($sub->{uri}, "/$PEBackend::MODEL", '... to POST /{model}');
is($sub->{headers}{authorization}, "Key $PEBackend::FAL_KEY",
   '... with Authorization: Key');
my $input = eval { decode_json($sub->{body}) } // {};
is_deeply([sort keys %$input],
          [qw(aspect_ratio duration image_url prompt)],
          '... and in the input only the prompt, the parameters and the '
          . 'media');
is($input->{prompt}, $prompt, '... the prompt as given');
is($input->{duration}, '5', '... the parameters as given');
my ($b64) = ($input->{image_url} // '') =~ m{^data:image/png;base64,(.+)$};
ok(defined $b64 && decode_base64($b64) eq $png,
   '... the image inline as a data URI, byte for byte');
is_deeply([sort keys %{ $sub->{headers} }],
          [qw(accept authorization content-length content-type host
              user-agent x-fal-object-lifecycle-preference x-fal-store-io)],
          '... and no other header: no cookie, no context, no address');
is($sub->{headers}{'x-fal-store-io'}, '0',
   '... X-Fal-Store-IO: 0, fal keeps no copy of the payload');
is_deeply(decode_json($sub->{headers}{'x-fal-object-lifecycle-preference'}
                      // '{}'),
          { expiration_duration_seconds => 86400 },
          '... the files it makes kept as long as the output\'s retention, '
          . '24h');
my @later = grep { $_->{method} ne 'POST' } @$reqs;
ok(@later && !grep({ exists $_->{headers}{'x-fal-store-io'} } @later),
   '... on the submission only');
my $all = join "\n", map { JSON::PP->new->canonical->encode($_) } @$reqs;
ok(index($all, $alice_sub) < 0 && index($all, $alice) < 0
   && $all !~ /subject-|Privacy-Context|127\.0\.0\.1:\d+\/v1/i,
   'nothing the provider received names the subject or carries the context');
my @polls = grep { $_->{uri} =~ m{/requests/[^/]+/status$} } @$reqs;
ok(@polls >= 1, 'the job was polled at its status_url');
ok((grep { $_->{uri} =~ m{/requests/[0-9a-f-]{36}$} } @$reqs) == 1,
   '... and its result fetched once, at response_url');

# --- another subject: exactly like a job that does not exist -------------

my $missing = $s->get('/v1/jobs/' . ('0' x 32), $alice);
$r = $s->get("/v1/jobs/$id", $mallory);
is($r->{status}, 404, 'another subject\'s job: 404');
is($r->{body}, $missing->{body}, '... the same answer as a missing job');
$r = $s->delete("/v1/jobs/$id", $mallory);
is($r->{status}, 404, '... nor can they delete it');
is($s->record($id)->{status}, 'succeeded', '... which is still there');
$r = $s->get('/v1/jobs', $mallory);
is_deeply($r->{json}{jobs}, [], '... and their history is empty');

# --- history and export --------------------------------------------------

$r = $s->get('/v1/jobs', $alice);
is_deeply([map { $_->{id} } @{ $r->{json}{jobs} // [] }], [$id],
          'the history holds the job');
$r = $s->get('/v1/subjects/me/export', $alice);
is($r->{status}, 200, 'export: 200');
my $ex = $r->{json};
is($ex->{subject}, $alice_sub, '... for the subject');
my ($ej) = @{ $ex->{jobs} // [] };
is($ej->{id}, $id, '... with the job');
is_deeply($ej->{params}, { duration => '5', aspect_ratio => '16:9' },
          '... its parameters');
like($ej->{output} // '', qr/^https:/, '... its output');
ok(!exists $ej->{prompt}, '... and no prompt, since none is kept');
is($ej->{upload_held}, JSON::PP::false, '... nor the upload');
is_deeply($ex->{context}{consent}, ['necessary', 'ai_processing'],
          '... and the consent the edge vouched for');
$r = $s->get('/v1/subjects/me/export', $mallory);
is_deeply($r->{json}{jobs}, [], 'another subject\'s export has none of it');

# --- a provider that refuses: the job fails with its reason ---------------

$r = $s->upload(context => $s->context, file => $png, prompt => 'FAIL-ME');
my $fid = $r->{json}{id} // 'none';
is($s->wait_status($fid, 15, 'succeeded', 'failed'), 'failed',
   'a model that refuses: failed');
like($s->get("/v1/jobs/$fid", $alice)->{json}{reason} // '',
     qr/provider 422: the model refused the input/,
     '... with the provider\'s reason');

# --- a video: by a signed link, gone once its job ended ------------------

my $mp4 = sample('mp4', 300_000);
$r = $s->upload(context => $s->context, file => $mp4, type => 'video/mp4',
                prompt => 'waves');
my $vid = $r->{json}{id} // 'none';
is($s->wait_status($vid, 15, 'succeeded', 'failed'), 'succeeded',
   'a video job succeeds');
my ($vjob) = grep { ($_->{input}{video_url} // '') =~ /\Q$vid\E/ }
             values %{ $t->fal_jobs };
my $link = $vjob->{input}{video_url} // '';
like($link, qr{^http://127\.0\.0\.1:\d+/v1/media/\Q$vid\E\.\d+\.[\w-]{43}$},
     '... sent as a signed link under public_url');
is($vjob->{fetched}{video_url}{status}, 200, '... the provider fetched it');
is($vjob->{fetched}{video_url}{sha256}, sha256_hex($mp4),
   '... and got the video, decrypted, byte for byte');
is($vjob->{fetched}{video_url}{type}, 'video/mp4', '... as video/mp4');
my ($lpath) = $link =~ m{^http://[^/]+(/.*)$};
$r = http_get($s->bport, $lpath // '/');
is($r->{status}, 410, 'the link once its job ended: 410 gone');
(my $forged = $lpath // '') =~ s/\.(\d+)\./'.' . ($1 + 1000) . '.'/e;
is(http_get($s->bport, $forged)->{status}, 404,
   'a link with its expiry changed: 404');
(my $other = $lpath // '') =~ s/\Q$vid\E/$id/;
is(http_get($s->bport, $other)->{status}, 404,
   'the same signature on another job\'s id: 404');
for my $bad ('/v1/media/', '/v1/media/x', '/v1/media/' . ('a' x 300),
             "/v1/media/$vid.9999999999.", "/v1/media/$vid..%00") {
    is(http_get($s->bport, $bad)->{status}, 404,
       'a malformed link: 404 (' . substr($bad, 10, 20) . ')');
}
ok(!-e "$d/spool/$vid.media", 'the video is gone from the spool');

# --- deleting a job at the provider ----------------------------------------

{
    my $slow = PEBackend->new(run => 60);
    my $ctx = $slow->context;
    my $r = $slow->upload(context => $ctx, file => $png);
    my $jid = $r->{json}{id} // 'none';
    like($slow->wait_status($jid, 10, 'submitted', 'running'),
         qr/^(?:submitted|running)$/, 'a long job is at the provider');
    my $rid = $slow->record($jid)->{remote_id} // 'none';
    $r = $slow->delete("/v1/jobs/$jid", $slow->context);
    is($r->{status}, 200, 'DELETE /v1/jobs/ID: 200');
    is($slow->get("/v1/jobs/$jid", $ctx)->{status}, 404, '... then 404');
    my $deadline = time + 10;
    sleep 0.1 while time < $deadline
        && !$slow->t->fal_jobs->{$rid}{canceled};
    ok($slow->t->fal_jobs->{$rid}{canceled},
       '... and the provider was told to cancel (PUT cancel_url)');
    sleep 0.3;
    is($slow->redis_dump =~ /\Q$jid\E/ ? 1 : 0, 0,
       '... and Redis holds nothing of it');
    is_deeply([$slow->spool_files], [], '... nor the spool');
    $slow->finish('the deleting backend');
}

# --- retention on a schedule: output, then the record ----------------------

{
    my $short = PEBackend->new(run => 0.3,
        retention => 'upload=1h output=2s record=4s prompt=1h');
    my $ctx = $short->context;
    my $r = $short->upload(context => $ctx, file => $png,
                           prompt => 'kept for an hour');
    my $jid = $r->{json}{id} // 'none';
    is($short->wait_status($jid, 10, 'succeeded'), 'succeeded',
       'upload=1h prompt=1h: the job succeeds');
    is_deeply([$short->spool_files], ["$jid.media", "$jid.prompt"],
              '... and the upload and the prompt are kept');
    my $e = $short->get('/v1/subjects/me/export', $ctx)->{json};
    is($e->{jobs}[0]{prompt}, 'kept for an hour',
       '... the export shows the prompt held');
    my $ttl = $short->t->redis_query($short->rport, ['TTL', "pe:job:$jid"]);
    ok($ttl > 4 && $ttl <= 64,
       "... and the record carries Redis's own TTL, record= plus a minute "
       . "($ttl s)");
    is($short->wait_status($jid, 6, 'expired'), 'expired',
       'output=2s: the job expires');
    ok(!exists $short->record($jid)->{output}, '... its output URL gone');
    my $deadline = time + 8;
    sleep 0.1 while time < $deadline && %{ $short->record($jid) };
    is_deeply($short->record($jid), {}, 'record=4s: then the record goes');
    is_deeply($short->get('/v1/jobs', $ctx)->{json}{jobs}, [],
              '... and the history is empty');
    is_deeply([$short->spool_files], [], '... with the files');
    unlike($short->redis_dump, qr/\Q$jid\E|subject-alice/,
           '... and nothing of it stays in Redis');
    $short->finish('the retaining backend');
}

# --- through the real edge ------------------------------------------------

{
    my $bport = $s->bport;
    $t->nginx_start(PEBackend::edge_conf($d, $bport));
    my %h = (Cookie => 'pe_consent=ai_processing:1; session=COOKIE-SECRET',
             'X-Account' => 'carol@example.com',
             'X-Forwarded-For' => '203.0.113.9');
    my $mark = scalar @{ $t->fal_requests };
    my $r = $s->upload(port => $t->port, file => $png,
                       prompt => 'through the edge', headers => \%h);
    is($r->{status}, 202, 'through the edge: 202') or diag($r->{raw});
    my $eid = $r->{json}{id} // 'none';
    is($s->wait_status($eid, 15, 'succeeded', 'failed'), 'succeeded',
       '... and the job succeeds');
    $r = http_get($t->port, "/v1/jobs/$eid", %h);
    like((eval { decode_json($r->{body}) } // {})->{output} // '',
         qr/^https:/, '... its output read back through the edge');
    is(http_get($t->port, "/v1/jobs/$eid", %h,
                'X-Account' => 'dave@example.com')->{status}, 404,
       '... by that account only');
    my @new = @{ $t->fal_requests }[$mark .. $#{ $t->fal_requests }];
    my $sent = join "\n", map { JSON::PP->new->canonical->encode($_) } @new;
    ok(@new >= 2 && $sent !~ /COOKIE-SECRET|carol|203\.0\.113\.9|
                               pe_consent|privacy-context/xi,
       '... the provider got no cookie, account, address or context');
    $t->nginx_stop;
    my $sub = $s->record($eid)->{sub} // 'x';
    is($s->delete('/v1/subjects/me', $s->context(sub => $sub))->{json}{jobs},
       1, '... and that subject\'s erasure takes it');
}

# --- erasure ----------------------------------------------------------------

$r = $s->delete('/v1/subjects/me', $s->context);
is($r->{status}, 200, 'DELETE /v1/subjects/me: 200');
is($r->{json}{jobs}, 3, '... three jobs erased');
is($s->get("/v1/jobs/$id", $alice)->{status}, 404, '... the job is gone');
is_deeply($s->get('/v1/jobs', $alice)->{json}{jobs}, [],
          '... the history is empty');
$dump = $s->redis_dump;
unlike($dump, qr/\Q$alice_sub\E|\Q$id\E|\Q$vid\E|\Q$fid\E/,
       '... and Redis holds no key or value of the subject');
is_deeply([$s->spool_files], [], '... nor the spool any file');

# --- what the operator sees ---------------------------------------------

$r = http_get($s->bport, '/metrics');
like($r->{body}, qr/^privacy_backend_jobs_total\{provider="fal",state="succeeded"\} 3$/m,
     '/metrics: jobs by provider and state');
like($r->{body}, qr/^privacy_backend_jobs_total\{provider="fal",state="failed"\} 1$/m,
     '... failed too');
like($r->{body}, qr/^privacy_backend_provider_latency_seconds_count\{provider="fal"\} [1-9]\d*$/m,
     '... provider latency');
like($r->{body}, qr/^privacy_backend_spool_bytes 0$/m, '... spool bytes');

my $log = $t->read_file('backend.log') // '';
unlike($log, qr/PROMPT-SECRET|\Q$PEBackend::FAL_KEY\E|subject-alice/,
       'the backend\'s log holds no prompt, no key and no subject');
like($log, qr/job $id succeeded/, '... but says what happened to the job');
$s->finish('the main backend');

done_testing();
