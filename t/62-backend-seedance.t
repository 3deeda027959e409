#!/usr/bin/perl

# Seedance through BytePlus ModelArk (backend/provider_seedance.c), end to
# end against t/lib/seedance-standin: a text-only job is a task whose
# content is the prompt alone; an image and a last frame are its
# first_frame and last_frame, each byte for byte (the small one inline as
# a data URI, the large one by the backend's signed link); every call
# carries the bearer key and nothing of the user; the task's video is the
# job's output, a failure its message; callbacks=on sends a callback_url
# whose unsigned callback is only a hint; and a DELETE of a job in flight
# cancels its task at ModelArk (DELETE of the task).

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(sha256_hex);
use IO::Socket::INET;
use JSON::PP;
use MIME::Base64 qw(encode_base64);
use Time::HiRes qw(time sleep);

use lib 't/lib';
use PETest;
use PEBackend;

my $KEY = 'ark-SECRET-5e8b1c';
my $MODEL = 'seedance-1-0-pro-250528';
my $RUN = 1.5;
my $SUB = 'subject-alice-0000000000000000000000000000';
$ENV{PE_TEST_ARK_KEY} = $KEY;

# the stand-in's port, chosen before the backend's configuration names it
my $sport = do {
    my $l = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, Proto => 'tcp',
                                  ReuseAddr => 1) or die "no free port: $!";
    my $p = $l->sockport;
    close $l;
    $p;
};

my $s = PEBackend->new(extra => <<"CONF");
provider seedance type=seedance base=http://127.0.0.1:$sport key_env=PE_TEST_ARK_KEY callbacks=on poll=60s;
model $MODEL provider=seedance inputs=image?,last_frame?;
CONF
my $t = $s->t;
$t->{ports}{seedance} = $sport;
$t->standin('seedance', key => $KEY, run => $RUN);
my $bport = $s->bport;
my $TASKS = '/api/v3/contents/generations/tasks';

my $png = sample('png', 30000);
my $jpeg = sample('jpeg', 1536 * 1024);     # past the inline limit: a link

sub part { my ($name, $type, $data) = @_; [$name, "$name.bin", $type, $data] }
sub field { [$_[0], undef, undef, $_[1]] }

# a job with the user's cookie and address on it, which must go no further
sub upload {
    my (@parts) = @_;
    return $s->upload(context => $s->context, parts => \@parts,
                      headers => { Cookie => 'session=COOKIE-SECRET',
                                   'X-Forwarded-For' => '203.0.113.8' });
}

sub creates {
    return grep { $_->{method} eq 'POST' && $_->{uri} eq $TASKS }
           @{ $t->standin_requests('seedance') };
}

sub nothing_of_the_user {
    my ($req, $name) = @_;
    my %h = map { lc($_) => 1 } keys %{ $req->{headers} };
    ok(!$h{cookie} && !$h{'privacy-context'} && !$h{'x-forwarded-for'},
       "$name: no cookie, context or address header");
    unlike(JSON::PP->new->canonical->encode($req),
           qr/COOKIE-SECRET|203\.0\.113\.8|\Q$SUB\E|alice/,
           "$name: no cookie, address or subject anywhere in the request");
    is($req->{headers}{authorization}, "Bearer $KEY",
       "$name: the bearer key");
}

my $cb_base = "http://127.0.0.1:$bport/v1/providers/seedance/webhook?job=";

# --- a text-only job ----------------------------------------------------------

my $t0 = time;
my $r = upload(field('prompt', 'a lighthouse at dusk'), field('model', $MODEL),
               field('params', '{"duration":5,"ratio":"16:9"}'));
is($r->{status}, 202, 'text only: 202') or diag($r->{body});
my $id = $r->{json}{id} // 'none';
is($s->wait_status($id, $RUN + 8, 'succeeded', 'failed'), 'succeeded',
   '... succeeds') or diag(explain($s->record($id)));
ok(time - $t0 < $RUN + 6, '... before the fallback poll a minute away: '
                          . 'the callback woke it');
my $rid = $s->record($id)->{remote_id} // '';
like($rid, qr/^cgt-\d+-\w+$/, '... the task id kept');
like($s->record($id)->{output} // '',
     qr{^https://ark-content-generation-ap-southeast-1\.tos\.example/standin/\Q$rid\E/output\.mp4\?},
     '... the output: the task\'s content.video_url');
my ($req) = creates();
ok($req, '... a task created');
is_deeply(decode_json($req->{body} // '{}'),
          { model => $MODEL,
            content => [{ type => 'text', text => 'a lighthouse at dusk' }],
            duration => 5, ratio => '16:9',
            callback_url => "$cb_base$id" },
          '... carrying exactly the model, the prompt, the parameters and '
          . 'the callback');
nothing_of_the_user($req, 'text only');
my @polls = grep { $_->{method} eq 'GET' && $_->{uri} eq "$TASKS/$rid" }
            @{ $t->standin_requests('seedance') };
ok(@polls >= 1, '... the state came from a poll of the task');
nothing_of_the_user($polls[-1] // {}, 'a poll');
my @cb = grep { $_->{url} eq "$cb_base$id" }
         @{ $t->standin_callbacks('seedance') };
is(scalar @cb, 1, '... ModelArk sent one callback');
is($cb[0]{status}, 200, '... and the backend took it as a hint (200)');

# --- an image and a last frame ------------------------------------------------

$r = upload(part('last_frame', 'image/jpeg', $jpeg),
            part('image', 'image/png', $png), field('prompt', 'a door opens'),
            field('model', $MODEL));
is($r->{status}, 202, 'image and last frame: 202') or diag($r->{body});
$id = $r->{json}{id} // 'none';
is($s->wait_status($id, $RUN + 8, 'succeeded', 'failed'), 'succeeded',
   '... succeeds') or diag(explain($s->record($id)));
$rid = $s->record($id)->{remote_id} // '';
($req) = grep { $_->{body} =~ /a door opens/ } creates();
my $body = decode_json($req->{body} // '{}');
my $link = $body->{content}[2]{image_url}{url} // '';
like($link, qr{^http://127\.0\.0\.1:$bport/v1/media/[0-9a-f]{32}},
     '... the large last frame by a signed link');
is_deeply($body,
          { model => $MODEL,
            content => [
                { type => 'text', text => 'a door opens' },
                { type => 'image_url', role => 'first_frame',
                  image_url => { url => 'data:image/png;base64,'
                                        . encode_base64($png, '') } },
                { type => 'image_url', role => 'last_frame',
                  image_url => { url => $link } } ],
            callback_url => "$cb_base$id" },
          '... the prompt, the image inline as first_frame, then the last '
          . 'frame as last_frame; nothing else');
my $task = $t->standin_jobs('seedance')->{$rid} // {};
is($task->{fetched}{first_frame}{sha256}, sha256_hex($png),
   '... the first frame byte for byte');
is($task->{fetched}{last_frame}{status}, 200, '... the link fetched');
is($task->{fetched}{last_frame}{sha256}, sha256_hex($jpeg),
   '... the last frame byte for byte');
is($task->{fetched}{last_frame}{type}, 'image/jpeg', '... as image/jpeg');
nothing_of_the_user($req, 'image and last frame');
like($s->record($id)->{output} // '', qr{/standin/\Q$rid\E/output\.mp4},
     '... the output: the task\'s video');

# --- a failure: its message ---------------------------------------------------

$r = upload(part('image', 'image/png', $png), field('prompt', 'FAIL-ME now'),
            field('model', $MODEL));
$id = $r->{json}{id} // 'none';
is($s->wait_status($id, $RUN + 8, 'succeeded', 'failed'), 'failed',
   'a task that fails: the job fails');
is($s->record($id)->{reason} // '',
   'content_policy: provider: The request failed because the output video '
   . 'may contain sensitive information.',
   '... with ModelArk\'s message, as content policy');

# --- parameters cannot replace what is ours; a refusal in ModelArk's words ---

$r = upload(field('prompt', 'ours only'), field('model', $MODEL),
            field('params', '{"content":"smuggled","model":"other"}'));
$id = $r->{json}{id} // 'none';
is($s->wait_status($id, $RUN + 8, 'succeeded', 'failed'), 'succeeded',
   'a parameter cannot replace the model or the content');
($req) = grep { $_->{body} =~ /ours only/ } creates();
$body = decode_json($req->{body} // '{}');
is($body->{model}, $MODEL, '... the model ours');
is_deeply($body->{content}, [{ type => 'text', text => 'ours only' }],
          '... the content ours');

$t->standin_faults('seedance', 'create 400 0 InvalidParameter');
$r = upload(field('prompt', 'refused'), field('model', $MODEL));
$id = $r->{json}{id} // 'none';
is($s->wait_status($id, $RUN + 8, 'succeeded', 'failed'), 'failed',
   'a 400 at creation: the job fails');
is($s->record($id)->{reason} // '',
   'provider 400: injected 400 InvalidParameter', '... in ModelArk\'s words');

# --- DELETE of a job in flight: the task cancelled at ModelArk ----------------

$r = upload(field('prompt', 'HOLD-ME please'), field('model', $MODEL));
$id = $r->{json}{id} // 'none';
$rid = $s->remote_id($id);
ok($rid, 'a job held at ModelArk');
is($s->delete("/v1/jobs/$id", $s->context)->{status}, 200,
   'DELETE of the job: 200');
my $deleted;
for (1 .. 100) {
    ($deleted) = grep { $_->{method} eq 'DELETE'
                        && $_->{uri} eq "$TASKS/$rid" }
                 @{ $t->standin_requests('seedance') };
    last if $deleted;
    sleep 0.05;
}
ok($deleted, '... ModelArk is asked to DELETE the task');
nothing_of_the_user($deleted // {}, 'the cancel');
is($deleted ? $deleted->{body} : undef, '', '... with no body');
sleep 0.3;
is($t->standin_jobs('seedance')->{$rid}{status}, 'cancelled',
   '... and it is cancelled there');
is_deeply($s->record($id), {}, '... the job gone here');

$s->finish('seedance');
done_testing();
