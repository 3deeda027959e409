#!/usr/bin/perl

# privacy-backend accepts uploads as jobs: the signed context decides who
# a request is for; the file streams into the encrypted spool; the
# record, the subject's set and the stream entry are in Redis before the
# 202; the prompt is never in Redis; a subject never sees another's job;
# bad input is refused with a reason and leaves nothing behind.  Then the
# same through the real edge.  The provider cannot be reached here, so
# every job stays queued (or is being submitted) while it is looked at.

use strict;
use warnings;

use Test::More;
use JSON::PP;

use lib 't/lib';
use PETest;
use PEBackend;

my $B = $PEBackend::B;
my $model = $PEBackend::MODEL;
my $png = sample('png', 20000);
my $prompt = 'a cat surfing PROMPT-SECRET-41';

my $be = PEBackend->new(public_url => 'https://media.example.com');
my ($t, $d, $rport, $bport) = ($be->t, $be->dir, $be->rport, $be->bport);

# nothing answers at the provider's address: no job gets further than
# being submitted
$t->standin_stop('fal');

# an upload of the cat picture and the secret prompt unless told otherwise
sub upload {
    my (%o) = @_;
    return $be->upload(file => $png, prompt => $prompt,
                       params => '{"duration":5}', %o);
}

# --- accepted ------------------------------------------------------------

my $alice = $be->context;
my $r = upload(context => $alice);
is($r->{status}, 202, 'an upload with a valid context: 202')
    or diag($r->{raw});
my $job = $r->{json};
like($job->{id} // '', qr/^[0-9a-f]{32}$/, '... a job id');
is($job->{status}, 'queued', '... queued');
my $id = $job->{id} // 'none';

my $rec = $be->record($id);
# the worker may have taken it already (its provider is unreachable here)
like($rec->{status} // '', qr/^(?:queued|submitting)$/,
     'the record is in Redis before the 202');
is($rec->{sub}, 'subject-alice-0000000000000000000000000000',
   '... for the subject of the context');
is($rec->{provider}, 'fal', '... with the model\'s provider');
is($rec->{media_type}, 'image/png', '... the media type');
is($rec->{size}, length $png, '... and the size');
is($t->redis_query($rport, ['XLEN', 'pe:jobs']), 1,
   'the job is on the stream for the workers');
is($t->redis_query($rport, ['SISMEMBER',
                            'pe:sub:subject-alice-0000000000000000000000000000:jobs',
                            $id]), 1,
   '... and in its subject\'s set');
unlike($be->redis_dump, qr/PROMPT-SECRET/, 'no prompt anywhere in Redis');

is_deeply([$be->spool_files], ["$id.media", "$id.prompt"],
          'the spool holds the media and the prompt, no .part');
my $spooled = $t->read_file("spool/$id.media");
my $png_body = substr($png, 16, 64);
ok(index($spooled, $png_body) < 0, 'the media is not in the clear on disk');
ok(index($t->read_file("spool/$id.prompt"), 'PROMPT-SECRET') < 0,
   '... nor the prompt');

# --- reading it back, and only one's own -------------------------------

$r = $be->get("/v1/jobs/$id", $alice);
is($r->{status}, 200, 'GET /v1/jobs/ID: 200');
my $got = $r->{json};
like($got->{status}, qr/^(?:queued|submitting)$/,
     '... queued (or already being submitted)');
is($got->{model}, $model, '... the model');
ok(!exists $got->{sub} && !exists $got->{params},
   '... and neither the subject nor the parameters');

$r = $be->get('/v1/jobs', $alice);
is(scalar @{ $r->{json}{jobs} // [] }, 1,
   'GET /v1/jobs: the subject\'s one job');

my $mallory = $be->context(sub => 'subject-mallory-000000000000000000000000');
my $other = $be->get("/v1/jobs/$id", $mallory);
my $missing = $be->get('/v1/jobs/' . ('0' x 32), $mallory);
is($other->{status}, 404, 'another subject\'s job: 404');
is($other->{body}, $missing->{body},
   '... exactly like a job that does not exist');
is_deeply($be->get('/v1/jobs', $mallory)->{json}{jobs}, [],
          '... and not in the other\'s history');

# --- the context ---------------------------------------------------------

# what Redis holds but the marks of contexts used to write (pe:ctx:)
sub keys_but_marks {
    join ',', sort grep { !/^pe:ctx:/ }
                   @{ $t->redis_query($rport, ['KEYS', '*']) };
}

my $keys_before = keys_but_marks();
my @refused = (
    [undef, 'no context'],
    [$be->context(key => 'x' x 32), 'a context signed with another key'],
    [$be->context(iat => time - 300, exp => time - 240),
     'an expired context'],
    [do { my $c = $be->context; substr($c, 40, 1) ^= "\x01"; $c },
     'an altered context'],
);
for my $case (@refused) {
    my ($ctx, $name) = @$case;
    $r = upload(context => $ctx);
    is($r->{status}, 401, "$name: 401");
    like($r->{body}, qr/"error":"context_invalid"/, '... context_invalid');
}

$r = upload(context => $be->context(con => ['necessary']));
is($r->{status}, 403, 'no ai_processing consent in the context: 403');
like($r->{body}, qr/"error":"consent_required".*"category":"ai_processing"/,
     '... consent_required, ai_processing');
is($be->get("/v1/jobs/$id")->{status}, 401, 'GET without a context: 401');

# --- bad input: a reason, and nothing left behind ----------------------

my @bad = (
    [[['prompt', undef, undef, 'p'], ['model', undef, undef, $model]],
     400, 'missing_input', 'no file'],
    [[['file', 'a.png', 'image/png', $png], ['model', undef, undef, 'nope']],
     400, 'unknown_model', 'an unknown model'],
    [[['file', 'a.png', 'image/png', $png],
      ['prompt', undef, undef, 'x' x 4001], ['model', undef, undef, $model]],
     400, 'prompt_too_long', 'a prompt of 4001 bytes'],
    [[['file', 'a.png', 'image/png', $png], ['model', undef, undef, $model],
      ['params', undef, undef, '{"duration":']],
     400, 'invalid_params', 'params that are not JSON'],
    [[['file', 'a.png', 'image/png', $png], ['model', undef, undef, $model],
      ['params', undef, undef, '[1,2]']],
     400, 'invalid_params', 'params that are not an object'],
    [[['file', 'a.png', 'image/png', $png], ['model', undef, undef, $model],
      ['model', undef, undef, $model]],
     400, 'duplicate_field', 'a field twice'],
    [[['file', 'a.png', 'image/png', $png], ['model', undef, undef, $model],
      ['email', undef, undef, 'a@example.com']],
     400, 'unknown_field', 'a field that is not asked for'],
    [[['file', 'a.png', 'image/png', sample('html', 5000)],
      ['model', undef, undef, $model]],
     415, 'upload_mismatch', 'an HTML page labelled image/png'],
    [[['file', 'a.txt', 'text/plain', 'hello'],
      ['model', undef, undef, $model]],
     415, 'upload_type', 'a text file'],
);
for my $case (@bad) {
    my ($parts, $status, $error, $name) = @$case;
    $r = upload(context => $be->context, parts => $parts);
    is($r->{status}, $status, "$name: $status");
    like($r->{body}, qr/"error":"$error"/, "... $error");
}

my $cut = multipart_body($B, ['file', 'a.png', 'image/png', $png],
                         ['model', undef, undef, $model]);
$r = http_post($bport, '/v1/jobs', substr($cut, 0, -8),
               'Content-Type' => "multipart/form-data; boundary=$B",
               'Privacy-Context' => $be->context);
is($r->{status}, 400, 'a body without its close delimiter: 400');
like($r->{body}, qr/"error":"malformed_multipart"/, '... malformed_multipart');

is_deeply([$be->spool_files], ["$id.media", "$id.prompt"],
          'no refused upload left a file in the spool');
is(keys_but_marks(), $keys_before, '... nor a key in Redis');
is($t->redis_query($rport, ['XLEN', 'pe:jobs']), 1, '... nor a job to do');

# --- a larger video, streamed ------------------------------------------

my $mp4 = sample('mp4', 6 * 1024 * 1024);
$r = upload(context => $be->context,
            parts => [['file', 'clip.mp4', 'video/mp4', $mp4],
                      ['model', undef, undef, $model],
                      ['private', undef, undef, 'true']]);
is($r->{status}, 202, 'a 6 MB video: 202');
my $vid = $r->{json}{id} // 'none';
my $vsize = -s "$d/spool/$vid.media";
ok($vsize && $vsize > length($mp4) && $vsize < length($mp4) + 4096,
   "... spooled encrypted: $vsize bytes for " . length($mp4));
is($be->get("/v1/jobs/$vid", $alice)->{json}{private}, JSON::PP::true,
   '... private');

# --- through the real edge ------------------------------------------------

$t->nginx_start(PEBackend::edge_conf($d, $bport));

my %through = ('Content-Type' => "multipart/form-data; boundary=$B",
               'Cookie' => 'pe_consent=ai_processing:1',
               'X-Account' => 'bob@example.com');
$r = http_post($t->port, '/v1/jobs',
               multipart_body($B, ['file', 'cat.png', 'image/png', $png],
                              ['prompt', undef, undef, $prompt],
                              ['model', undef, undef, $model]),
               %through);
is($r->{status}, 202, 'through the edge: 202') or diag($r->{raw});
my $eid = (eval { decode_json($r->{body}) } // {})->{id} // 'none';
my $erec = $be->record($eid);
like($erec->{sub} // '', qr/^[A-Za-z0-9_-]{43}$/,
     '... the subject is the edge\'s pseudonym');
unlike($be->redis_dump, qr/bob\@example\.com/, '... never the account itself');

$r = http_get($t->port, "/v1/jobs/$eid", %through);
is($r->{status}, 200, '... and the same account reads it through the edge');
$r = http_get($t->port, "/v1/jobs/$eid", %through,
              'X-Account' => 'eve@example.com');
is($r->{status}, 404, '... another account does not');
$r = http_post($t->port, '/v1/jobs', 'x',
               'Content-Type' => "multipart/form-data; boundary=$B",
               'X-Account' => 'bob@example.com');
is($r->{status}, 403, 'without the opt-in the edge refuses before the '
                      . 'backend');

$t->nginx_stop;

unlike($t->read_file('backend.log') // '', qr/PROMPT-SECRET|bob\@example/,
       'the backend\'s log holds no prompt and no account');

done_testing();
