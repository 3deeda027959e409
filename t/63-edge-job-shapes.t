#!/usr/bin/perl

# Every job shape end to end THROUGH THE EDGE, as an operator would run
# it: the real Debian nginx with the module under the shipped
# conf/nginx.conf (its upload location: consent, rate limits, upload types
# and sniffing, request bodies streamed), in front of the real backend
# under the shipped conf/backend.conf (its providers and models; the
# Seedance and Veo examples switched on as written where they are still
# commented out; only its addresses, paths and bases moved to this test's
# prefix and stand-ins),
# with a real redis-server, and the five provider stand-ins speaking each
# provider's wire format.  public_url is the edge, so every media link a
# provider fetches and every callback it sends goes through nginx too.
#
# Users upload real files made by ffmpeg (a PNG and a JPEG frame, a PNG
# over 1 MiB, an MP4 clip, an MP3 voice).  For each shape (text only to
# Kling and Seedance; an image to fal, Replicate, Kling, Veo and Seedance;
# first and last frame to Veo, Seedance and Kling; an image and a
# reference video to fal; an image and a voice to fal) the stand-in must
# have received exactly the job: the decoded body field by field, each
# input byte for byte in its role (decoded from the inline data, or as
# the stand-in fetched the link through the edge), and no header or byte
# of the user (cookie, session, pseudonym, client address, forwarded
# address, user agent, context, filename).  Through the edge too: a
# missing role, an extra role, a role twice, a text-only job to an image
# model and a voice to a model without audio are each a 400 naming the
# role, and nothing reaches any provider.
#
# Models the shipped backend.conf lacks for a shape are added by this
# test's own lines (EXTRA below), never by changing conf/.  A last frame
# without its image, a video to a model whose provider takes none, text
# alone to a model without inputs=: each a 400 naming the role, before
# anything is kept.  The shipped access log names no media link.

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(sha256_hex);
use JSON::PP;
use MIME::Base64 qw(decode_base64);
use Time::HiRes qw(time sleep);

use lib 't/lib';
use PETest;
use PEShipped;

my $t = PETest->new;
my $d = $t->dir;

# --- the user's files, real ones ---------------------------------------------

my $have_ffmpeg = system('ffmpeg -version >/dev/null 2>&1') == 0;

# a file made by ffmpeg from a lavfi source, or a sample when there is none
# Files without metadata, so that the backend's stripper leaves them as
# they are and each input can be checked byte for byte (t/66 tests the
# stripping): ffmpeg's encoder tags off, and what it still writes in an
# MP4 (udta, meta) made free boxes of zeros here, apart from the C code,
# and the creation and modification times of mvhd, tkhd and mdhd zeroed
# (zeros already with bitexact, but a clock must not make the bytes differ)
sub media {
    my ($name, $fallback, @args) = @_;
    if ($have_ffmpeg) {
        my @cmd = ('ffmpeg', '-nostdin', '-loglevel', 'error', '-y',
                   '-f', 'lavfi', @args, '-map_metadata', '-1',
                   '-fflags', '+bitexact', '-flags', '+bitexact',
                   "$d/$name");
        if (system(@cmd) == 0) {
            my $f = $t->read_file($name);
            return $name =~ /\.mp4$/ ? free_metadata_boxes($f) : $f;
        }
        diag("ffmpeg failed: @cmd");
    }
    return $fallback->();
}

sub free_metadata_boxes {
    my ($f, $from, $to) = @_;
    ($from, $to) = (0, length $f) unless defined $from;
    my $at = $from;
    while ($at + 8 <= $to) {
        my ($size, $type) = unpack('Na4', substr($f, $at, 8));
        last if $size < 8 || $at + $size > $to;
        if ($type eq 'udta' || $type eq 'meta') {
            substr($f, $at + 4, $size - 4) = 'free' . ("\0" x ($size - 8));
        } elsif ($type =~ /^(?:mvhd|tkhd|mdhd)$/ && $size >= 12) {
            # version 1: two 64-bit times after version and flags, else 32
            my $n = ord(substr($f, $at + 8, 1)) == 1 ? 16 : 8;
            substr($f, $at + 12, $n) = "\0" x $n if $size >= 12 + $n;
        } elsif ($type =~ /^(?:moov|trak|mdia|minf|stbl)$/) {
            $f = free_metadata_boxes($f, $at + 8, $at + $size);
        }
        $at += $size;
    }
    return $f;
}

my %M = (
    frame => media('frame.png', sub { sample('png', 30000) },
                   '-i', 'testsrc=size=320x180:rate=1', '-frames:v', 1),
    last  => media('last.jpg', sub { sample('jpeg', 20000) },
                   '-i', 'testsrc2=size=320x180:rate=1', '-frames:v', 1),
    # noise does not compress: a PNG past the 1 MiB a frame may be inline
    big   => media('big.png', sub { sample('png', 1400 * 1024) },
                   '-i', 'color=c=gray:s=900x700,noise=alls=100:allf=t',
                   '-frames:v', 1),
    clip  => media('clip.mp4', sub { sample('mp4', 300 * 1024) },
                   '-i', 'testsrc=size=320x240:rate=10:duration=1',
                   '-pix_fmt', 'yuv420p'),
    voice => media('voice.mp3',
                   sub { "ID3\x04\x00\x00\x00\x00\x00\x00" . ('x' x 40000) },
                   '-i', 'sine=frequency=440:duration=1'),
);
my %TYPE = (frame => 'image/png', last => 'image/jpeg', big => 'image/png',
            clip => 'video/mp4', voice => 'audio/mpeg');
# what each is called on the user's phone: no provider may learn it
my %FILE = (frame => 'IMG_4821-alice-beach.png',
            last => 'IMG_4822-alice-sunset.jpg',
            big => 'IMG_4823-alice-family.png',
            clip => 'VID_0091-alice-dance.mp4',
            voice => 'REC_0007-alice-voice.mp3');
cmp_ok(length $M{big}, '>', 1024 * 1024,
       'the large frame is past the 1 MiB inlined (it goes by link)');
cmp_ok(length($M{$_}), '<', 1024 * 1024, "the $_ is under 1 MiB (inline)")
    for qw(frame last);

# --- providers, Redis, the backend under the shipped backend.conf ------------

# What the shipped backend.conf has no model for: Kling's first and last
# frame, fal's image with a reference video, fal's image with a voice.
my $EXTRA = <<'CONF';
# t/63: shapes the shipped configuration has no model for
model kling-v1-6 provider=kling inputs=image,last_frame;
model fal-ai/wan/v2.2-14b/animate/move provider=fal inputs=image,video;
model fal-ai/kling-video/v1/standard/ai-avatar provider=fal
      inputs=image,audio;
CONF

# the five stand-ins, Redis, the backend under conf/backend.conf as an
# operator switches it on (the Seedance and Veo examples uncommented as
# written, if they still are comments; every address, path and base moved
# here, as scripts/run.sh does; nothing else changed) with the lines above,
# and the edge under the shipped nginx.conf: t/lib/PEShipped.pm
my $S = PEShipped->new(t => $t, extra => $EXTRA, run => 0.6,
                       nginx => { workers => 2,
                                  error_log_level => 'notice' });
is($S->check_rc, 0, 'the shipped backend.conf (Seedance and Veo switched on) '
   . 'with the test\'s models passes -t') or diag($S->check_out);
my %KEY = %{ $S->provider_keys };
my $rport = $S->rport;
my @PROVIDERS = $S->providers;
my $bpid = $S->bpid;
my $eport = $S->eport;                    # the edge
my $EDGE = $S->edge;

# --- the user's side: uploads and reads through the edge --------------------

sub part {
    my ($role, $what) = @_;
    return [$role, $FILE{$what}, $TYPE{$what}, $M{$what}];
}
sub field { [$_[0], undef, undef, $_[1]] }

# One user per upload (her own session, her own address, PEShipped): the
# shipped limits allow 6 uploads a minute per user and 11 per address, and
# this test makes more than that.  Each upload carries what must go no
# further than the edge: the session and other cookies, a forwarded
# address, a user agent, and the opt-in.
sub upload { $S->upload(@_) }
sub edge_get { $S->edge_get(@_) }

# every request every stand-in received
sub all_requests { $S->all_requests }

# the submission carrying a prompt, at one stand-in (10 s at most)
sub submission { $S->submission(@_) }

my $LINK = qr{^\Q$EDGE\E/v1/media/[0-9a-f]{32}\d*\.\d+\.[\w-]+$};

# inline media: a data: URI (or raw base64) decoded, compared with the file
sub inline_is {
    my ($value, $what, $name, %o) = @_;
    my ($type, $b64) = $o{raw} ? ($TYPE{$what}, $value // '')
                     : (($value // '') =~ m{^data:([^;,]+);base64,(.*)$}s);
    ok(defined $b64 && length $b64, "$name: inline") or return;
    is($type, $TYPE{$what}, "$name: as $TYPE{$what}");
    is(sha256_hex(decode_base64($b64)), sha256_hex($M{$what}),
       "$name: byte for byte the $what uploaded");
}

# a link: under the edge, and what the stand-in fetched through it
sub fetched_is {
    my ($fetched, $what, $name) = @_;
    is($fetched->{status}, 200, "$name: fetched by the provider through "
       . 'the edge');
    is($fetched->{sha256}, sha256_hex($M{$what}),
       "$name: byte for byte the $what uploaded");
    is($fetched->{type}, $TYPE{$what}, "$name: as $TYPE{$what}");
}

# exactly these headers, and nothing of the user anywhere in the request
my %HEADERS = map { $_ => [sort qw(accept authorization content-length
                                    content-type host user-agent)] }
              qw(fal replicate kling seedance);
# fal's submission: keep no payload, and the files it makes only as long
# as the output's retention
$HEADERS{fal_submit} = [sort @{ $HEADERS{fal} },
                        qw(x-fal-object-lifecycle-preference x-fal-store-io)];
$HEADERS{veo} = [sort qw(accept content-length content-type host user-agent
                          x-goog-api-key)];

sub nothing_of_the_user {
    my ($who, $req, $u, $name) = @_;
    my $which = $who eq 'fal' && $req->{method} eq 'POST' ? 'fal_submit'
                                                           : $who;
    is_deeply([sort grep { $_ ne 'expect' } keys %{ $req->{headers} }],
              $HEADERS{$which}, "$name: no header but the provider's own "
              . '(no cookie, context or address)');
    # the provider's own credential aside (Kling's is a JWT of its own,
    # checked below), the whole request as text
    my %h = %{ $req->{headers} };
    my $auth = delete $h{authorization} // '';
    my $all = JSON::PP->new->canonical->encode({ %$req, headers => \%h });
    my @leak = grep { index($all, $_) >= 0 }
               ($u->{session}, $u->{sub}, $u->{from}, $u->{xff}, $u->{ua},
                'pe_consent', 'GA1.2.777', values %FILE);
    push @leak, 'a JWS' if $all =~ /eyJ[\w-]+\.eyJ[\w-]+\.[\w-]{20,}/;
    push @leak, 'Privacy-Context' if $all =~ /privacy-context/i;
    is_deeply(\@leak, [], "$name: nothing of the user in the request: no "
              . 'session, pseudonym, address, user agent, cookie, context '
              . 'or filename');
    if ($who eq 'kling') {
        my ($jwt) = $auth =~ /^Bearer (\S+)$/;
        my $claims = jwt_verify($jwt, $KEY{KLING_SECRET_KEY}) // {};
        is_deeply([sort keys %$claims], [qw(exp iss nbf)],
                  "$name: Kling's JWT, signed by its secret key, says "
                  . 'iss, exp and nbf only');
        is($claims->{iss}, $KEY{KLING_ACCESS_KEY}, "$name: ... iss the access "
           . 'key');
    } else {
        unlike($auth, qr/eyJ/, "$name: no JWT as the credential");
    }
}

# --- each job shape, accepted at the edge -----------------------------------

my @jobs;

sub job {
    my ($name, $who, $prompt, @parts) = @_;
    my $r = upload(field('prompt', $prompt), @parts);
    is($r->{status}, 202, "$name: 202 through the edge") or diag($r->{raw});
    my $j = { name => $name, who => $who, prompt => $prompt,
              id => $r->{json}{id} // 'none', user => $r->{user} };
    push @jobs, $j;
    return $j;
}

my %J;
# text only
$J{kling_text} = job('text only to Kling (kling-v2-1-master)', 'kling',
                     'a lighthouse at dusk, text only',
                     field('model', 'kling-v2-1-master'),
                     field('params', '{"duration":"5","mode":"std"}'));
$J{seed_text} = job('text only to Seedance', 'seedance',
                    'a paper boat on a river, text only',
                    field('model', 'seedance-1-0-pro-250528'),
                    field('params', '{"duration":5,"ratio":"16:9"}'));
# an image
$J{fal_image} = job('an image to fal', 'fal', 'the beach comes alive',
                    part('file', 'frame'),
                    field('model',
                          'fal-ai/kling-video/v2.1/standard/image-to-video'),
                    field('params', '{"duration":"5"}'));
$J{rep_image} = job('an image to Replicate', 'replicate',
                    'the family waves', part('image', 'big'),
                    field('model', 'bytedance/seedance-1-pro'),
                    field('params', '{"duration":5,"resolution":"1080p"}'));
$J{kling_image} = job('an image to Kling', 'kling', 'the family laughs',
                      part('file', 'big'), field('model', 'kling-v2-1'),
                      field('params', '{"duration":"10"}'));
$J{veo_image} = job('an image to Veo', 'veo', 'waves roll in slowly',
                    part('image', 'frame'),
                    field('model', 'veo-3.1-generate-preview'),
                    field('params', '{"aspectRatio":"16:9"}'));
$J{seed_image} = job('an image to Seedance', 'seedance', 'gulls fly over',
                     part('image', 'frame'),
                     field('model', 'seedance-1-0-pro-250528'));
# first and last frame
$J{veo_flf} = job('first and last frame to Veo', 'veo',
                  'day turns to evening', part('last_frame', 'last'),
                  part('image', 'frame'),
                  field('model', 'veo-3.1-generate-preview'),
                  field('params', '{"durationSeconds":8}'));
$J{seed_flf} = job('first and last frame to Seedance', 'seedance',
                   'the tide goes out', part('image', 'frame'),
                   part('last_frame', 'big'),
                   field('model', 'seedance-1-0-pro-250528'),
                   field('params', '{"duration":5}'));
$J{kling_flf} = job('first and last frame to Kling (kling-v1-6)', 'kling',
                    'the sun sets over the beach', part('image', 'frame'),
                    part('last_frame', 'last'), field('model', 'kling-v1-6'),
                    field('params', '{"mode":"pro"}'));
# an image and a reference video; an image and a voice
$J{fal_motion} = job('an image and a reference video to fal', 'fal',
                     'dance like this clip', part('image', 'frame'),
                     part('video', 'clip'),
                     field('model', 'fal-ai/wan/v2.2-14b/animate/move'));
$J{fal_voice} = job('an image and a voice to fal', 'fal',
                    'say hello in my voice', part('audio', 'voice'),
                    part('image', 'frame'),
                    field('model', 'fal-ai/kling-video/v1/standard/ai-avatar'));

# every job ends, as its user reads it through the edge
my $deadline = time + 25;
for my $j (@jobs) {
    my $st = '';
    while (time < $deadline) {
        $j->{view} = edge_get("/v1/jobs/$j->{id}", $j->{user})->{json};
        $st = $j->{view}{status} // '';
        last if $st eq 'succeeded' || $st eq 'failed';
        sleep 0.1;
    }
    is($st, 'succeeded', "$j->{name}: succeeded, read through the edge")
        or diag(explain($j->{view}));
}

# the record's subject is the edge's pseudonym of the session: what the
# checks below look for at the providers is what the backend holds
is($t->redis_query($rport, ['HGET', "pe:job:$J{fal_image}{id}", 'sub']),
   $J{fal_image}{user}{sub}, 'the job\'s subject is the edge\'s pseudonym '
   . 'of the session');

# the one submission of each job, decoded; the inputs its user sees
for my $j (@jobs) {
    my @s = submission($j->{who}, $j->{prompt});
    is(scalar @s, 1, "$j->{name}: one submission at $j->{who}");
    $j->{req} = $s[0] // { headers => {}, body => '{}', uri => '' };
    $j->{body} = eval { decode_json($j->{req}{body}) } // {};
    nothing_of_the_user($j->{who}, $j->{req}, $j->{user}, $j->{name});
}

# the stand-in's record of the task a submission made
sub task_of {
    my ($j, $match) = @_;
    my ($task) = grep { $match->($_) } values %{ $t->standin_jobs($j->{who}) };
    return $task // {};
}

my ($j, $b, $link);

# --- text only -------------------------------------------------------------------

$j = $J{kling_text};
is($j->{req}{uri}, '/v1/videos/text2video', "$j->{name}: a text2video task");
is_deeply($j->{body},
          { model_name => 'kling-v2-1-master', prompt => $j->{prompt},
            duration => '5', mode => 'std', external_task_id => $j->{id},
            callback_url => "$EDGE/v1/providers/kling/webhook?job=$j->{id}" },
          "$j->{name}: exactly the model, the prompt, the parameters, our "
          . 'job id and the callback (at the edge)');
is_deeply($j->{view}{inputs}, [], "$j->{name}: the job says it had no input");

$j = $J{seed_text};
is($j->{req}{uri}, '/api/v3/contents/generations/tasks',
   "$j->{name}: a generation task");
is_deeply($j->{body},
          { model => 'seedance-1-0-pro-250528',
            content => [{ type => 'text', text => $j->{prompt} }],
            duration => 5, ratio => '16:9',
            callback_url => "$EDGE/v1/providers/seedance/webhook?job="
                            . $j->{id} },
          "$j->{name}: exactly the model, the prompt, the parameters and the "
          . 'callback');

# --- an image ----------------------------------------------------------------------

$j = $J{fal_image};
$b = $j->{body};
is($j->{req}{uri}, '/fal-ai/kling-video/v2.1/standard/image-to-video',
   "$j->{name}: POST /{model}");
is_deeply([sort keys %$b], [qw(duration image_url prompt)],
          "$j->{name}: the prompt, the parameter and image_url, nothing else");
is($b->{prompt}, $j->{prompt}, "$j->{name}: the prompt");
is($b->{duration}, '5', "$j->{name}: the parameter");
inline_is($b->{image_url}, 'frame', "$j->{name}: image_url");
is_deeply($j->{view}{inputs}, ['image'], "$j->{name}: the job lists its "
          . 'input ("file" is the image)');

$j = $J{rep_image};
$b = $j->{body};
$link = $b->{input}{image} // '';
like($link, $LINK, "$j->{name}: the large image by a signed link at the "
     . 'edge');
is_deeply($b, { input => { prompt => $j->{prompt}, image => $link,
                           duration => 5, resolution => '1080p' },
                webhook => "$EDGE/v1/providers/replicate/webhook?job=$j->{id}",
                webhook_events_filter => ['completed'] },
          "$j->{name}: exactly the input (prompt, parameters, image) and the "
          . 'webhook');
is($j->{req}{uri}, '/v1/models/bytedance/seedance-1-pro/predictions',
   "$j->{name}: at the model's predictions");
fetched_is(task_of($j, sub { ($_[0]{input}{prompt} // '') eq $j->{prompt} })
           ->{fetched}{image} // {}, 'big', "$j->{name}: image");

$j = $J{kling_image};
$b = $j->{body};
$link = $b->{image} // '';
like($link, $LINK, "$j->{name}: the large image by a signed link at the "
     . 'edge');
is($j->{req}{uri}, '/v1/videos/image2video', "$j->{name}: an image2video "
   . 'task');
is_deeply($b, { model_name => 'kling-v2-1', prompt => $j->{prompt},
                image => $link, duration => '10',
                external_task_id => $j->{id},
                callback_url => "$EDGE/v1/providers/kling/webhook?job="
                                . $j->{id} },
          "$j->{name}: exactly the model, prompt, image, parameter, job id and "
          . 'callback');
fetched_is(task_of($j, sub { ($_[0]{request}{external_task_id} // '')
                             eq $j->{id} })->{fetched}{image} // {},
           'big', "$j->{name}: image");

$j = $J{veo_image};
$b = $j->{body};
is($j->{req}{uri}, '/v1beta/models/veo-3.1-generate-preview:predictLongRunning',
   "$j->{name}: predictLongRunning of the model");
is($j->{req}{headers}{'x-goog-api-key'}, $KEY{GEMINI_API_KEY},
   "$j->{name}: the key header");
my $img = $b->{instances}[0]{image} // {};
is_deeply($b, { instances => [{ prompt => $j->{prompt},
                                image => { bytesBase64Encoded =>
                                               $img->{bytesBase64Encoded},
                                           mimeType => 'image/png' } }],
                parameters => { aspectRatio => '16:9' } },
          "$j->{name}: exactly one instance (prompt, image) and the "
          . 'parameters');
inline_is($img->{bytesBase64Encoded}, 'frame', "$j->{name}: image", raw => 1);

$j = $J{seed_image};
$b = $j->{body};
my $url = $b->{content}[1]{image_url}{url};
is_deeply($b, { model => 'seedance-1-0-pro-250528',
                content => [{ type => 'text', text => $j->{prompt} },
                            { type => 'image_url', role => 'first_frame',
                              image_url => { url => $url } }],
                callback_url => "$EDGE/v1/providers/seedance/webhook?job="
                                . $j->{id} },
          "$j->{name}: exactly the prompt and the image as first_frame");
inline_is($url, 'frame', "$j->{name}: first_frame");

# --- first and last frame -------------------------------------------------------------

$j = $J{veo_flf};
$b = $j->{body};
my $inst = $b->{instances}[0] // {};
is_deeply($b, { instances => [{
                    prompt => $j->{prompt},
                    image => { bytesBase64Encoded =>
                                   $inst->{image}{bytesBase64Encoded},
                               mimeType => 'image/png' },
                    lastFrame => { bytesBase64Encoded =>
                                       $inst->{lastFrame}{bytesBase64Encoded},
                                   mimeType => 'image/jpeg' } }],
                parameters => { durationSeconds => 8 } },
          "$j->{name}: exactly the prompt, image, lastFrame and parameters");
inline_is($inst->{image}{bytesBase64Encoded}, 'frame', "$j->{name}: image",
          raw => 1);
inline_is($inst->{lastFrame}{bytesBase64Encoded}, 'last',
          "$j->{name}: lastFrame", raw => 1);
is_deeply($j->{view}{inputs}, ['last_frame', 'image'],
          "$j->{name}: the job lists its inputs as given");

$j = $J{seed_flf};
$b = $j->{body};
$url = $b->{content}[1]{image_url}{url};
$link = $b->{content}[2]{image_url}{url} // '';
like($link, $LINK, "$j->{name}: the large last frame by a signed link at "
     . 'the edge');
is_deeply($b, { model => 'seedance-1-0-pro-250528',
                content => [{ type => 'text', text => $j->{prompt} },
                            { type => 'image_url', role => 'first_frame',
                              image_url => { url => $url } },
                            { type => 'image_url', role => 'last_frame',
                              image_url => { url => $link } }],
                duration => 5,
                callback_url => "$EDGE/v1/providers/seedance/webhook?job="
                                . $j->{id} },
          "$j->{name}: exactly the prompt, first_frame, last_frame, the "
          . 'parameter and the callback');
inline_is($url, 'frame', "$j->{name}: first_frame");
my $rid = $t->redis_query($rport, ['HGET', "pe:job:$j->{id}", 'remote_id'])
          // '';
fetched_is($t->standin_jobs('seedance')->{$rid}{fetched}{last_frame} // {},
           'big', "$j->{name}: last_frame");

$j = $J{kling_flf};
$b = $j->{body};
is($j->{req}{uri}, '/v1/videos/image2video', "$j->{name}: image2video");
is_deeply($b, { model_name => 'kling-v1-6', prompt => $j->{prompt},
                image => $b->{image}, image_tail => $b->{image_tail},
                mode => 'pro', external_task_id => $j->{id},
                callback_url => "$EDGE/v1/providers/kling/webhook?job="
                                . $j->{id} },
          "$j->{name}: exactly the model, prompt, image, image_tail, "
          . 'parameter, job id and callback');
inline_is($b->{image}, 'frame', "$j->{name}: image (raw base64)", raw => 1);
inline_is($b->{image_tail}, 'last', "$j->{name}: image_tail (raw base64)",
          raw => 1);

# --- an image and a reference video; an image and a voice ----------------------

$j = $J{fal_motion};
$b = $j->{body};
$link = $b->{video_url} // '';
like($link, $LINK, "$j->{name}: the video by a signed link at the edge");
is_deeply($b, { prompt => $j->{prompt}, image_url => $b->{image_url},
                video_url => $link },
          "$j->{name}: exactly the prompt, image_url and video_url");
inline_is($b->{image_url}, 'frame', "$j->{name}: image_url");
fetched_is(task_of($j, sub { ($_[0]{input}{prompt} // '') eq $j->{prompt} })
           ->{fetched}{video_url} // {}, 'clip', "$j->{name}: video_url");
is_deeply($j->{view}{inputs}, ['image', 'video'],
          "$j->{name}: the job lists its inputs");

$j = $J{fal_voice};
$b = $j->{body};
$link = $b->{audio_url} // '';
like($link, $LINK, "$j->{name}: the voice by a signed link at the edge");
is_deeply($b, { prompt => $j->{prompt}, image_url => $b->{image_url},
                audio_url => $link },
          "$j->{name}: exactly the prompt, image_url and audio_url");
inline_is($b->{image_url}, 'frame', "$j->{name}: image_url");
fetched_is(task_of($j, sub { ($_[0]{input}{prompt} // '') eq $j->{prompt} })
           ->{fetched}{audio_url} // {}, 'voice', "$j->{name}: audio_url");

# a link is good for its job only while the provider needs it
for my $j (grep { ($_->{req}{body} // "") =~ m{\Q$EDGE\E/v1/media/} } @jobs) {
    my ($l) = $j->{req}{body} =~ m{"(\Q$EDGE\E/v1/media/[^"]+)"};
    is(http_get($eport, $l =~ s{^\Q$EDGE\E}{}r)->{status}, 410,
       "$j->{name}: its media link is gone (410) once the job ended");
}

# every call any provider received (submissions, polls, result reads):
# nothing of any user in any of them
{
    my @users = map { $_->{user} } @jobs;
    my @marks = ((map { @$_{qw(session sub from xff ua)} } @users),
                 values %FILE, 'pe_consent', 'GA1.2.777');
    my @reqs = map { my %h = %{ $_->{headers} }; delete $h{authorization};
                     JSON::PP->new->canonical->encode({ %$_, headers => \%h }) }
               all_requests();
    my @leak = grep { my $m = $_; grep { index($_, $m) >= 0 } @reqs } @marks;
    is_deeply(\@leak, [], 'no call to any provider ('. scalar(@reqs)
              . ') holds anything of any user');
}

# the providers' callbacks came through the edge (public_url), and the
# backend took each
# (each is recorded once answered: a moment after the job it woke ended)
my $hooked = grep { $_->{who} =~ /^(?:kling|seedance|replicate)$/ } @jobs;
my @cb;
for (1 .. 100) {
    @cb = map { @{ $t->standin_callbacks($_) } } @PROVIDERS;
    last if @cb >= $hooked;
    sleep 0.05;
}
is(scalar @cb, $hooked, 'Kling, Seedance and Replicate each sent the '
   . 'callback of each of their jobs');
is_deeply([grep { index($_->{url}, "$EDGE/v1/providers/") != 0
                  || $_->{status} != 200 } @cb], [],
          '... each to the edge, and each answered 200');

# --- refusals through the edge: each a 400 naming the role, nothing sent --------

# what a job reaching a provider makes: its submission (polls, late
# callbacks' polls, are GETs of jobs that were taken)
sub settled_requests {
    my $count = -1;
    for (1 .. 40) {
        my $now = grep { $_->{method} ne 'GET' } all_requests();
        return $now if $now == $count;
        $count = $now;
        sleep 0.1;
    }
    return $count;
}

# any call to any provider that carries a refused job's prompt
sub refused_sent {
    return scalar grep { index($_->{body} // '', 'refused: ') >= 0 }
                  all_requests();
}

my $before = settled_requests();
my $jobs_before = scalar @{ $t->redis_query($rport, ['KEYS', 'pe:job:*']) };

sub refused {
    my ($name, $role, $error, @parts) = @_;
    my $r = upload(field('prompt', "refused: $name"), @parts);
    is($r->{status}, 400, "$name: 400 through the edge") or diag($r->{raw});
    is($r->{json}{error}, $error, "$name: $error");
    is($r->{json}{role}, $role, "$name: naming the role \"$role\"")
        or diag($r->{body});
    return $r;
}

refused('a missing image (a last frame alone to fal\'s first/last-frame '
        . 'model)', 'image', 'missing_input', part('last_frame', 'last'),
        field('model', 'fal-ai/kling-video/v1.6/pro/image-to-video'));
refused('a missing last frame (Kling\'s kling-v1-6)', 'last_frame',
        'missing_input', part('image', 'frame'), field('model', 'kling-v1-6'));
refused('an extra role (a video to Seedance)', 'video', 'unexpected_input',
        part('image', 'frame'), part('video', 'clip'),
        field('model', 'seedance-1-0-pro-250528'));
refused('an extra role (a video to fal\'s first/last-frame model)', 'video',
        'unexpected_input', part('image', 'frame'), part('video', 'clip'),
        field('model', 'fal-ai/kling-video/v1.6/pro/image-to-video'));
refused('a duplicate role (two images to fal\'s first/last-frame model)',
        'image', 'duplicate_input', part('image', 'frame'),
        part('image', 'last'),
        field('model', 'fal-ai/kling-video/v1.6/pro/image-to-video'));
refused('a duplicate role ("file" and "image" to Veo)', 'image',
        'duplicate_input', part('file', 'frame'), part('image', 'frame'),
        field('model', 'veo-3.1-generate-preview'));
refused('text only to an image model (fal\'s first/last-frame model)',
        'image', 'missing_input',
        field('model', 'fal-ai/kling-video/v1.6/pro/image-to-video'));
refused('a voice to a model without audio (fal\'s image-to-video)', 'audio',
        'unexpected_input', part('image', 'frame'), part('audio', 'voice'),
        field('model', 'fal-ai/kling-video/v2.1/standard/image-to-video'));
refused('a voice as "file" to a model without audio (Kling\'s kling-v2-1)',
        'audio', 'unexpected_input', part('file', 'voice'),
        field('model', 'kling-v2-1'));
refused('a voice to a model without audio (Seedance)', 'audio',
        'unexpected_input', part('image', 'frame'), part('audio', 'voice'),
        field('model', 'seedance-1-0-pro-250528'));

# The shipped image models without inputs= (fal's v2.1, Replicate's,
# Kling's kling-v2-1) take one image or video as "file": text alone is
# missing it.
refused('text only to Replicate\'s image model (no inputs=)', 'file',
        'missing_input', field('model', 'bytedance/seedance-1-pro'));
# a last frame starts nowhere without its image, whatever the model says
refused('a last frame without its image to Seedance (inputs=image?,'
        . 'last_frame?)', 'image', 'missing_input',
        part('last_frame', 'last'), field('model', 'seedance-1-0-pro-250528'));
refused('a last frame without its image to Veo', 'image', 'missing_input',
        part('last_frame', 'last'), field('model', 'veo-3.1-generate-preview'));
# without inputs=, "an image or a video" of those its provider can send
refused('a video as "file" to Kling\'s kling-v2-1 (no inputs=)', 'video',
        'unexpected_input', part('file', 'clip'), field('model', 'kling-v2-1'));

is(settled_requests(), $before, 'no refused job reached any provider');
is(refused_sent(), 0, '... nothing of one in any call');
is(scalar @{ $t->redis_query($rport, ['KEYS', 'pe:job:*']) }, $jobs_before,
   '... nor left a job in Redis');

# A media link is a capability: neither the backend's log (t/5x) nor the
# shipped access log names one
{
    my @lines = grep { m{/v1/media/[0-9a-f]{32}} }
                split /\n/, $t->read_file('shipped.log') // '';
    is(scalar @lines, 0, 'the edge\'s access log names no media link')
        or diag($lines[0]);
}

# --- the end ---------------------------------------------------------------------

$t->nginx_stop;
my $status = $t->stop_pid($bpid, 'TERM');
my $blog = $t->read_file('backend.log') // '';
unlike($blog, qr/Sanitizer|runtime error:/, 'the backend: no sanitizer '
       . 'report');
unlike($blog, qr{/v1/media/[^*\s"'?]}, 'the backend: no media link in its '
       . 'log');
is($status >> 8, 0, 'the backend exits cleanly');
my @secrets = grep { index($blog, $_) >= 0 } values %KEY;
is_deeply(\@secrets, [], 'the backend logged no provider key');

done_testing();
