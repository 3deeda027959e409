#!/usr/bin/perl

# Every job shape of POST /v1/jobs: a model's inputs= says which media
# roles it takes (image, last_frame, video, audio; none: text only), each
# a file part named by its role ("file": the model's first input), and its
# adapter maps each role to the provider's field.  A text-only job to
# Kling is a text2video task; an image and a last frame are Kling's image
# and image_tail; an image and a reference video, or a sound, reach fal as
# image_url, video_url, audio_url.  Each provider gets exactly the prompt,
# the parameters and each input's bytes, by link or inline, and nothing of
# the user.  A job missing an input, with one its model does not take, or
# with a role twice is a 400 naming the role, and leaves nothing in the
# spool or in Redis; -t refuses an unknown or repeated role.

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(sha256_hex);
use JSON::PP;
use MIME::Base64 qw(decode_base64 encode_base64);

use lib 't/lib';
use PETest;
use PEBackend;

my $s = PEBackend->new(kling => { run => 0.6 }, extra => <<'EOF');
model kling-t2v provider=kling inputs=none;
model kling-i2v-tail provider=kling inputs=image,last_frame;
model fal-ai/motion provider=fal inputs=image,video;
model fal-ai/voice provider=fal inputs=image?,audio;
model fal-ai/still provider=fal inputs=image fields=image:start_image_url;
upload_max_size image=64k video=3m audio=48k;
EOF
my $t = $s->t;
my $d = $s->dir;
my $bport = $s->bport;
my $rport = $s->rport;
my $B = $PEBackend::B;
my $SUB = 'subject-alice-0000000000000000000000000000';

my $png = sample('png', 30000);
my $jpeg = sample('jpeg', 20000);
my $mp4 = sample('mp4', 2 * 1024 * 1024);
# an ID3v2.4 tag header, then filler: what the sniffer takes for MPEG
# audio
my $mp3 = "ID3\x04\x00\x00\x00\x00\x00\x00" . ('x' x 40000);

sub part { my ($name, $type, $data) = @_; [$name, "$name.bin", $type, $data] }
sub field { [$_[0], undef, undef, $_[1]] }

sub upload {
    my (@parts) = @_;
    return $s->upload(context => $s->context, parts => \@parts);
}

sub keys_but_marks {
    join ',', sort grep { !/^pe:ctx:/ }
                   @{ $t->redis_query($rport, ['KEYS', '*']) };
}

# --- -t: the roles a model may name --------------------------------------

my $bin = $PETest::BACKEND;
for my $c (['fal inputs=image,sound',
            qr/unknown input "sound" of model "m"/, 'an unknown role'],
           ['fal inputs=image,image?',
            qr/duplicate input "image" of model "m"/, 'a role twice'],
           ['fal fields=image', qr/invalid field "image" of model "m"/,
            'a field without its name'],
           ['kling inputs=image,audio',
            qr/model "m": provider "kling" takes no audio input/,
            'a role its provider cannot send']) {
    my ($attr, $re, $name) = @$c;
    my $f = $t->write_file('check.conf', $s->conf . "model m provider="
                                         . "$attr;\n");
    my $out = `$bin -t -c $f 2>&1`;
    is($? >> 8, 1, "-t: $name refused");
    like($out, $re, '... saying which') or diag($out);
}

# --- refusals: each names the role, and nothing is kept -------------------

my $before = keys_but_marks();
my @bad = (
    [[part('image', 'image/png', $png), field('model', 'kling-i2v-tail')],
     400, 'missing_input', 'last_frame', 'a last frame missing'],
    [[part('image', 'image/png', $png), part('video', 'video/mp4', $mp4),
      part('last_frame', 'image/jpeg', $jpeg),
      field('model', 'fal-ai/motion')],
     400, 'unexpected_input', 'last_frame', 'a last frame not taken'],
    [[part('image', 'image/png', $png), part('image', 'image/png', $png),
      field('model', 'fal-ai/motion')],
     400, 'duplicate_input', 'image', 'an image twice'],
    [[part('file', 'image/png', $png), part('image', 'image/png', $png),
      part('video', 'video/mp4', $mp4), field('model', 'fal-ai/motion')],
     400, 'duplicate_input', 'image', 'file as the first input, and it too'],
    [[field('prompt', 'a cat'), field('model', 'fal-ai/still')],
     400, 'missing_input', 'image', 'a text-only job to an image model'],
    [[part('image', 'image/png', $png), part('video', 'image/png', $png),
      field('model', 'fal-ai/motion')],
     415, 'upload_type', 'video', 'an image as the video'],
    [[part('image', 'image/png', $png), field('model', 'kling-t2v')],
     400, 'unexpected_input', 'image', 'an image to a text-only model'],
    [[part('image', 'image/png', $png), part('video', 'video/mp4', $mp4),
      field('model', $PEBackend::MODEL)],
     400, 'unexpected_input', 'video', 'two media to a one-file model'],
);
push @bad, [[part('image', 'image/png', $png),
             part('audio', 'audio/mpeg', $mp3),
             field('model', 'fal-ai/motion')],
            400, 'unexpected_input', 'audio', 'a sound to a model without'],
           # upload_max_size, above: each input by its type's kind
           [[part('image', 'image/png', sample('png', 64 * 1024 + 1)),
             field('model', 'fal-ai/still')],
            413, 'upload_too_large', 'image', 'an image a byte over 64k'],
           [[part('image', 'image/png', $png),
             part('audio', 'audio/mpeg', $mp3 . ('x' x 10000)),
             field('model', 'fal-ai/voice')],
            413, 'upload_too_large', 'audio', 'a sound over 48k'],
           [[part('file', 'video/mp4', sample('mp4', 3 * 1024 * 1024 + 1)),
             field('model', $PEBackend::MODEL)],
            413, 'upload_too_large', 'file', 'a video as "file" over 3m'];
for my $c (@bad) {
    my ($parts, $status, $error, $role, $name) = @$c;
    my $r = upload(@$parts);
    is($r->{status}, $status, "$name: $status");
    is($r->{json}{error}, $error, "... $error");
    is($r->{json}{role}, $role, "... naming $role") or diag($r->{body});
}
is_deeply([$s->spool_files], [], 'no refused job left a file in the spool');
is(keys_but_marks(), $before, '... nor a key in Redis');
my $r0 = upload(part('file', 'image/png', sample('png', 64 * 1024)),
                field('model', $PEBackend::MODEL));
is($r0->{status}, 202, 'an image of 64k exactly: taken') or diag($r0->{body});
for my $c (['image=0', 'invalid size "0"'], ['image=10x', 'invalid size "10x"'],
           ['sound=1m', 'unknown kind "sound"'],
           ['image=99999999g', 'invalid size "99999999g"'])
{
    my ($attr, $why) = @$c;
    my $f = $t->write_file('check.conf', $s->conf . "upload_max_size $attr;\n");
    (my $conf = $t->read_file('check.conf')) =~ s/^upload_max_size image=64k[^\n]*\n//m;
    $f = $t->write_file('check.conf', $conf);
    my $out = `$PETest::BACKEND -t -c $f 2>&1`;
    is($? >> 8, 1, "-t: upload_max_size $attr refused");
    like($out, qr/\Q$why\E in "upload_max_size" directive/, '... saying why')
        or diag($out);
}
{
    my $f = $t->write_file('check.conf', $s->conf . "upload_max_size audio=1m;\n");
    my $out = `$PETest::BACKEND -t -c $f 2>&1`;
    like($out, qr/"upload_max_size" directive is duplicate/,
         '-t: upload_max_size twice refused');
}

# --- what each provider got: exactly the job, nothing of the user ---------

sub requests_to {
    my ($who, $path) = @_;
    return grep { $_->{method} eq 'POST' && $_->{uri} =~ $path }
           @{ $t->standin_requests($who) };
}

# nothing of the user in a request: no cookie, context, subject, address
sub nothing_of_the_user {
    my ($req, $name) = @_;
    my %h = map { lc($_) => 1 } keys %{ $req->{headers} };
    ok(!$h{cookie} && !$h{'privacy-context'} && !$h{'x-forwarded-for'},
       "$name: no cookie, context or address header");
    unlike($req->{body}, qr/\Q$SUB\E|alice|127\.0\.0\.1:\d+\/v1\/jobs/,
           "$name: no subject in the body");
}

my $media_link = qr{^http://127\.0\.0\.1:$bport/v1/media/[0-9a-f]{32}};

# a text-only job: Kling's text2video
my $r = upload(field('prompt', 'a lighthouse at dusk'),
               field('model', 'kling-t2v'),
               field('params', '{"duration":"5"}'));
is($r->{status}, 202, 'text only to Kling: 202') or diag($r->{body});
my $id = $r->{json}{id} // 'none';
is($s->wait_status($id, 10, 'succeeded', 'failed'), 'succeeded',
   '... succeeds') or diag(explain($s->record($id)));
my ($req) = requests_to('kling', qr{^/v1/videos/text2video$});
ok($req, '... as a text2video task');
is_deeply(decode_json($req->{body} // '{}'),
          { model_name => 'kling-t2v', prompt => 'a lighthouse at dusk',
            duration => '5', external_task_id => $id },
          '... carrying exactly the prompt and the parameters');
nothing_of_the_user($req, 'text2video');
is_deeply($s->get("/v1/jobs/$id", $s->context)->{json}{inputs}, [],
          '... and the job says it had no input');

# an image and its last frame: Kling's image and image_tail, inline
$r = upload(part('last_frame', 'image/jpeg', $jpeg),
            part('image', 'image/png', $png), field('prompt', 'a door opens'),
            field('model', 'kling-i2v-tail'));
is($r->{status}, 202, 'image and last frame to Kling: 202')
    or diag($r->{body});
$id = $r->{json}{id} // 'none';
is($s->wait_status($id, 10, 'succeeded', 'failed'), 'succeeded',
   '... succeeds') or diag(explain($s->record($id)));
($req) = requests_to('kling', qr{^/v1/videos/image2video$});
is_deeply(decode_json($req->{body} // '{}'),
          { model_name => 'kling-i2v-tail', prompt => 'a door opens',
            external_task_id => $id, image => encode_base64($png, ''),
            image_tail => encode_base64($jpeg, '') },
          '... image and image_tail, each byte for byte, nothing else');
nothing_of_the_user($req, 'image2video');
is_deeply($s->get("/v1/jobs/$id", $s->context)->{json}{inputs},
          ['last_frame', 'image'], '... the job lists its inputs');

# an image and a reference video to fal: the image inline, the video linked
$r = upload(part('file', 'image/png', $png), part('video', 'video/mp4', $mp4),
            field('prompt', 'dance like this'),
            field('model', 'fal-ai/motion'));
is($r->{status}, 202, 'image ("file") and video to fal: 202')
    or diag($r->{body});
$id = $r->{json}{id} // 'none';
is($s->wait_status($id, 10, 'succeeded', 'failed'), 'succeeded',
   '... succeeds') or diag(explain($s->record($id)));
($req) = requests_to('fal', qr{^/fal-ai/motion});
my $in = decode_json($req->{body} // '{}');
is_deeply([sort keys %$in], [qw(image_url prompt video_url)],
          '... image_url, video_url and the prompt, nothing else');
is($in->{prompt}, 'dance like this', '... the prompt');
is($in->{image_url}, 'data:image/png;base64,' . encode_base64($png, ''),
   '... the image inline, byte for byte');
like($in->{video_url}, $media_link, '... the video by a link');
my ($job) = grep { $_->{model} eq 'fal-ai/motion' }
            values %{ $t->standin_jobs('fal') };
is($job->{fetched}{video_url}{status}, 200, '... which fal fetched');
is($job->{fetched}{video_url}{sha256}, sha256_hex($mp4),
   '... the video byte for byte');
is($job->{fetched}{video_url}{type}, 'video/mp4', '... as video/mp4');
like($in->{video_url}, qr{/v1/media/[0-9a-f]{32}1\.\d+\.},
     '... the link of input 1, bound to it');
(my $other = $in->{video_url}) =~ s{(/v1/media/[0-9a-f]{32})1\.}{$1.};
is($s->get($other =~ s{^http://[^/]+}{}r)->{status}, 404,
   '... and not turned into the link of another input');
is($s->get($in->{video_url} =~ s{^http://[^/]+}{}r)->{status}, 410,
   '... nor served once the job ended');
nothing_of_the_user($req, 'fal motion');

# a renamed field: fields=image:start_image_url
$r = upload(part('image', 'image/png', $png), field('prompt', 'still'),
            field('model', 'fal-ai/still'));
is($r->{status}, 202, 'an image to a model renaming its field: 202');
$id = $r->{json}{id} // 'none';
is($s->wait_status($id, 10, 'succeeded', 'failed'), 'succeeded',
   '... succeeds');
($req) = requests_to('fal', qr{^/fal-ai/still});
is_deeply(decode_json($req->{body} // '{}'),
          { prompt => 'still',
            start_image_url => 'data:image/png;base64,'
                               . encode_base64($png, '') },
          '... as start_image_url, nothing else');

# a sound to fal: by its link, fetched byte for byte
$r = upload(part('audio', 'audio/mpeg', $mp3), field('prompt', 'sing'),
            field('model', 'fal-ai/voice'));
is($r->{status}, 202, 'a sound to fal: 202') or diag($r->{body});
$id = $r->{json}{id} // 'none';
is($s->wait_status($id, 10, 'succeeded', 'failed'), 'succeeded',
   '... succeeds');
($req) = requests_to('fal', qr{^/fal-ai/voice});
$in = decode_json($req->{body} // '{}');
is_deeply([sort keys %$in], [qw(audio_url prompt)],
          '... audio_url and the prompt, nothing else');
like($in->{audio_url}, $media_link, '... the sound by a link');
($job) = grep { $_->{model} eq 'fal-ai/voice' }
         values %{ $t->standin_jobs('fal') };
is($job->{fetched}{audio_url}{sha256}, sha256_hex($mp3),
   '... fetched byte for byte');
is($job->{fetched}{audio_url}{type}, 'audio/mpeg', '... as audio/mpeg');
nothing_of_the_user($req, 'fal voice');

# retention (upload=0): every input's file gone once the jobs ended
is_deeply([grep { /\.media/ } $s->spool_files], [],
          'upload=0: no input of an ended job left in the spool');

# erasure takes every input's record and file
$r = upload(part('image', 'image/png', $png), part('video', 'video/mp4', $mp4),
            field('model', 'fal-ai/motion'));
$id = $r->{json}{id} // 'none';
my $exp = $s->get('/v1/subjects/me/export', $s->context)->{json};
my ($ex) = grep { $_->{id} eq $id } @{ $exp->{jobs} // [] };
is_deeply($ex->{inputs}, ['image', 'video'], 'export: the inputs listed');
is($s->delete('/v1/subjects/me', $s->context)->{status}, 200, 'erased');
is_deeply([grep { /^\Q$id\E/ } $s->spool_files], [],
          '... and every input file of the job with it');

$s->finish('job shapes');
done_testing();
