#!/usr/bin/perl

# Google's Veo through the Gemini API, end to end through the backend and
# Redis to a stand-in speaking the Gemini wire format and checking the key
# header: an image and its last frame go inline in one predictLongRunning
# instance (bytesBase64Encoded and mimeType, byte for byte), with the
# prompt and the parameters and nothing of the user; the operation is
# polled until done and its video's URI is the job's output.  Frames go
# inline up to 7 MiB each, so two fit Google's 20 MB request; a larger one
# fails its job before anything is sent.  A failed operation fails the job
# with Google's message, a filtered one as content policy; 429 and 5xx are
# tried again.  -t checks a veo
# provider's attributes and the roles its models name.

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(sha256_hex);
use JSON::PP;
use MIME::Base64 qw(encode_base64);

use lib 't/lib';
use PETest;
use PEBackend;

my $KEY = 'AIza-veo-key-SECRET-61e3';
my $MODEL = 'veo-3.1-generate-preview';
my $SUB = 'subject-alice-0000000000000000000000000000';
my $bin = $PETest::BACKEND;

$ENV{PE_TEST_VEO_KEY} = $KEY;

my $s = PEBackend->new(extra => <<"EOF");
provider veo-test type=veo base=http://127.0.0.1:%%PORT_veo%%
         key_env=PE_TEST_VEO_KEY timeout=30s;
model $MODEL provider=veo-test inputs=image,last_frame;
model veo-t2v provider=veo-test inputs=none;
EOF
my $t = $s->t;
my $d = $s->dir;
$t->standin('veo', key => $KEY, run => 0.6);

my $png = sample('png', 30000);
my $jpeg = sample('jpeg', 20000);

sub part { my ($name, $type, $data) = @_; [$name, "$name.bin", $type, $data] }
sub field { [$_[0], undef, undef, $_[1]] }

sub upload {
    my (@parts) = @_;
    return $s->upload(context => $s->context, parts => \@parts,
                      headers => { Cookie => 'session=COOKIE-SECRET',
                                   'X-Forwarded-For' => '203.0.113.8' });
}

sub submits {
    return grep { $_->{method} eq 'POST' }
           @{ $t->standin_requests('veo') };
}

# --- -t -----------------------------------------------------------------------

{
    my $check = sub {
        my ($text) = @_;
        my $f = $t->write_file('check.conf', $s->conf =~ s/%%PORT_veo%%/1/r
                                             . $text);
        my $out = `$bin -t -c $f 2>&1`;
        return ($? >> 8, $out);
    };
    my ($rc, $out) = $check->('');
    is($rc, 0, '-t: a veo provider passes') or diag($out);
    ($rc, $out) = $check->("provider v2 type=veo base=https://x;\n");
    is($rc, 1, '-t: veo without key_env= fails');
    like($out, qr/provider "v2" needs key_env=/, '... saying so');
    ($rc, $out) = $check->("provider v3 type=veo base=https://x key_env=K "
                           . "callbacks=on;\n");
    is($rc, 1, '-t: veo with callbacks= fails');
    like($out, qr/provider "v3" takes no callbacks=/, '... saying so')
        or diag($out);
    ($rc, $out) = $check->("model m provider=veo-test inputs=image,audio;\n");
    is($rc, 1, '-t: a veo model taking a sound fails');
    like($out, qr/model "m": provider "veo-test" takes no audio input/,
         '... saying so') or diag($out);
}

# --- an image and its last frame -----------------------------------------------

my $r = upload(part('image', 'image/png', $png),
               part('last_frame', 'image/jpeg', $jpeg),
               field('prompt', 'a door opens slowly'),
               field('model', $MODEL),
               field('params', '{"aspectRatio":"16:9","durationSeconds":8,'
                               . '"negativePrompt":"rain"}'));
is($r->{status}, 202, 'image and last frame to Veo: 202')
    or diag($r->{body});
my $id = $r->{json}{id} // 'none';
is($s->wait_status($id, 15, 'succeeded', 'failed'), 'succeeded',
   '... succeeds') or diag(explain($s->record($id)));

my @p = submits();
is(scalar @p, 1, 'one operation was started');
my $req = $p[0];
is($req->{uri}, "/v1beta/models/$MODEL:predictLongRunning",
   '... by predictLongRunning of the model');
is($req->{headers}{'x-goog-api-key'}, $KEY, '... with the key header');
ok(!exists $req->{headers}{authorization}, '... and no Authorization');
is_deeply(decode_json($req->{body} // '{}'),
          { instances => [{
                prompt => 'a door opens slowly',
                image => { bytesBase64Encoded => encode_base64($png, ''),
                           mimeType => 'image/png' },
                lastFrame => { bytesBase64Encoded => encode_base64($jpeg, ''),
                               mimeType => 'image/jpeg' } }],
            parameters => { aspectRatio => '16:9', durationSeconds => 8,
                            negativePrompt => 'rain' } },
          '... exactly the prompt, both frames byte for byte with their '
          . 'types, and the parameters');
my %h = map { lc($_) => 1 } keys %{ $req->{headers} };
ok(!$h{cookie} && !$h{'privacy-context'} && !$h{'x-forwarded-for'},
   '... no cookie, context or address header');
unlike($req->{body}, qr/\Q$SUB\E|alice|COOKIE-SECRET|203\.0\.113\.8|$id/,
       '... nothing of the user, nor our job id, in the body');

my ($op) = values %{ $t->standin_jobs('veo') };
is($op->{fetched}{image}{type}, 'image/png', 'the stand-in took the image');
is($op->{fetched}{lastFrame}{length}, length $jpeg,
   '... and the last frame, whole');

my @polls = grep { $_->{method} eq 'GET' } @{ $t->standin_requests('veo') };
ok(@polls >= 1, 'the operation was polled');
like($polls[-1]{uri}, qr{^/v1beta/models/\Q$MODEL\E/operations/[a-z0-9]+$},
     '... at GET /v1beta/{name}');
is(scalar(grep { ($_->{headers}{'x-goog-api-key'} // '') ne $KEY } @polls),
   0, '... each with the key');
my ($opid) = $polls[-1]{uri} =~ m{/operations/([a-z0-9]+)$};
is($s->record($id)->{output},
   "http://127.0.0.1:" . $t->port('veo')
   . "/v1beta/files/$opid:download?alt=media",
   '... and the job\'s output is the video\'s URI');
is_deeply($s->get("/v1/jobs/$id", $s->context)->{json}{inputs},
          ['image', 'last_frame'], '... the job lists its inputs');

# --- a failed operation, a filtered one --------------------------------------

$r = upload(part('image', 'image/png', $png),
            part('last_frame', 'image/jpeg', $jpeg),
            field('prompt', 'FAIL-ME please'), field('model', $MODEL));
$id = $r->{json}{id} // 'none';
is($s->wait_status($id, 15, 'failed', 'succeeded'), 'failed',
   'a failed operation: the job fails');
is($s->record($id)->{reason},
   'provider: 3: The prompt could not be processed: FAIL-ME',
   '... with Google\'s code and message');
ok(!$s->record($id)->{output}, '... and no output');

$r = upload(field('prompt', 'FILTER-ME'), field('model', 'veo-t2v'));
$id = $r->{json}{id} // 'none';
is($s->wait_status($id, 15, 'failed', 'succeeded'), 'failed',
   'a filtered operation (text only): the job fails');
like($s->record($id)->{reason} // '', qr/^content_policy: provider: The video/,
     '... as content policy');
my ($t2v) = grep { ($_->{body} // '') =~ /FILTER-ME/ } submits();
is_deeply(decode_json($t2v->{body} // '{}'),
          { instances => [{ prompt => 'FILTER-ME' }] },
          '... its request the prompt alone');

$r = upload(field('prompt', 'FILTER-COUNT'), field('model', 'veo-t2v'));
$id = $r->{json}{id} // 'none';
is($s->wait_status($id, 15, 'failed', 'succeeded'), 'failed',
   'filtered, with raiMediaFilteredCount and no reasons: the job fails');
like($s->record($id)->{reason} // '', qr/^content_policy: /,
     '... as content policy too');

# --- 429 and 5xx: later -----------------------------------------------------------

my $mark = scalar submits();
$t->standin_faults('veo', 'submit 429 1', 'query 503');
$r = upload(part('image', 'image/png', $png),
            part('last_frame', 'image/jpeg', $jpeg),
            field('prompt', 'after a 429'), field('model', $MODEL));
$id = $r->{json}{id} // 'none';
is($s->wait_status($id, 20, 'succeeded', 'failed'), 'succeeded',
   '429 on submit, 503 on a poll: tried again, the job succeeds')
    or diag(explain($s->record($id)));
is(scalar(submits()) - $mark, 2, '... two submissions');
is($t->read_file('veo/faults') // '', '', '... and the poll\'s 503 was met');

# --- large frames: inline up to 7 MiB each, in one request under 20 MB ---------

# what Veo was sent of each frame, decoded by the stand-in
sub sent_frames {
    my ($op) = @_;
    my $job = decode_json($t->read_file("veo/jobs/$op.json") // '{}');
    return { map { $_ => $job->{fetched}{$_}{sha256} // '' }
             keys %{ $job->{fetched} // {} } };
}

$mark = scalar submits();
my $big = sample('png', 6 * 1024 * 1024 + 512 * 1024);
my $big2 = sample('jpeg', 6 * 1024 * 1024 + 512 * 1024);
$r = upload(part('image', 'image/png', $big),
            part('last_frame', 'image/jpeg', $big2),
            field('prompt', 'large frames'), field('model', $MODEL));
$id = $r->{json}{id} // 'none';
is($s->wait_status($id, 20, 'succeeded', 'failed'), 'succeeded',
   'two frames of 6.5 MiB: the job succeeds')
    or diag(explain($s->record($id)));
my ($large) = grep { ($_->{body} // '') =~ /large frames/ } submits();
my $large_op = $s->record($id)->{remote_id} // '';
$large_op =~ s{.*/}{};
is_deeply(sent_frames($large_op),
          { image => sha256_hex($big), lastFrame => sha256_hex($big2) },
          '... both went inline, byte for byte');
cmp_ok(length($large->{body} // ''), '<=', 20 * 1024 * 1024,
       '... in one request within Google\'s 20 MB');

$mark = scalar submits();
$r = upload(part('image', 'image/png', sample('png', 7 * 1024 * 1024 + 1)),
            part('last_frame', 'image/jpeg', $jpeg),
            field('prompt', 'too large'), field('model', $MODEL));
$id = $r->{json}{id} // 'none';
is($r->{status}, 202, 'an image of 7 MiB and a byte: 202');
is($s->wait_status($id, 15, 'failed', 'succeeded'), 'failed',
   '... the job fails') or diag(explain($s->record($id)));
like($s->record($id)->{reason} // '', qr/only inline, up to 7 MiB/,
     '... saying why') or diag(explain($s->record($id)));
is(scalar(submits()) - $mark, 0, '... and nothing was sent');

# --- refused by Google: failed with its words ----------------------------------

$t->standin_faults('veo', 'submit 400');
$r = upload(part('image', 'image/png', $png),
            part('last_frame', 'image/jpeg', $jpeg),
            field('prompt', 'refused'), field('model', $MODEL));
$id = $r->{json}{id} // 'none';
is($s->wait_status($id, 15, 'failed', 'succeeded'), 'failed',
   'a 400: the job fails');
is($s->record($id)->{reason}, 'provider 400: injected 400',
   '... in Google\'s words');

my $log = $t->read_file('backend.log') // '';
unlike($log, qr/\Q$KEY\E/, 'the key is never logged');

$s->finish('veo');
done_testing();
