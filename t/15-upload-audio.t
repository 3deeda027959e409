#!/usr/bin/perl

# Audio uploads and their signatures, checked against files a reference
# encoder wrote: ffmpeg makes a second of a sine tone in each format in
# the test's prefix, and each goes through a real nginx with
# privacy_upload_type audio/* and privacy_upload_sniff on.  Declared as
# what it is, it passes (200); declared as something else, it is refused
# (415 upload_mismatch) and `detected` names what the bytes are.

use strict;
use warnings;

use Test::More;

use lib 't/lib';
use PETest;

# make test installs ffmpeg (scripts/deps.sh): its absence is a failure,
# never a quiet skip
BAIL_OUT('ffmpeg not installed (scripts/deps.sh installs it)')
    unless system('ffmpeg -version >/dev/null 2>&1') == 0;

my $t = PETest->new;
$t->upstream('app');

$t->nginx_start(<<'EOF');
    client_body_buffer_size 1k;

    server {
        listen 127.0.0.1:%%PORT%%;

        location /audio {
            privacy_upload_type audio/* 10m;
            privacy_upload_sniff on;
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }

        location /media {
            privacy_upload_type audio/* 10m;
            privacy_upload_type video/* 10m;
            privacy_upload_sniff on;
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }
    }
EOF

my $port = $t->port;

# name => [ffmpeg output options, declared types that must pass, what
# pe_sniff_detect must say]
my %files = (
    'id3.mp3'     => [[], ['audio/mpeg', 'audio/mp3'], 'audio/mpeg'],
    # no ID3 tag and no Xing frame: the file starts with an audio frame
    'mpeg1.mp3'   => [['-id3v2_version', 0, '-write_xing', 0],
                      ['audio/mpeg'], 'audio/mpeg'],
    'mpeg2.mp3'   => [['-ar', 22050, '-id3v2_version', 0, '-write_xing', 0],
                      ['audio/mpeg'], 'audio/mpeg'],
    'mpeg25.mp3'  => [['-ar', 8000, '-id3v2_version', 0, '-write_xing', 0],
                      ['audio/mpeg'], 'audio/mpeg'],
    'layer2.mp2'  => [['-c:a', 'mp2'], ['audio/mpeg'], 'audio/mpeg'],
    'tone.wav'    => [['-ar', 8000], ['audio/wav', 'audio/x-wav'],
                      'audio/wav'],
    'tone.m4a'    => [[], ['audio/mp4', 'audio/x-m4a'], 'audio/mp4'],
    # an audio-only MP4 with the generic brands: detected as an MP4, as it
    # always was, and audio/mp4 takes it
    'tone.mp4'    => [['-vn'], ['audio/mp4', 'audio/x-m4a'], 'video/mp4'],
    'vorbis.ogg'  => [['-c:a', 'libvorbis'], ['audio/ogg'], 'audio/ogg'],
    'opus.ogg'    => [['-c:a', 'libopus'], ['audio/ogg'], 'audio/ogg'],
    'flac.ogg'    => [['-c:a', 'flac'], ['audio/ogg'], 'audio/ogg'],
    # WebM is one container for audio and video: detected as WebM
    'tone.webm'   => [[], ['audio/webm', 'video/webm'], 'video/webm'],
    'tone.flac'   => [[], ['audio/flac', 'audio/x-flac'], 'audio/flac'],
    # ADTS AAC: an MPEG sync word, but no MPEG audio layer
    'adts.aac'    => [['-c:a', 'aac', '-f', 'adts'], [], undef],
);

my %data;
for my $name (sort keys %files) {
    my $path = $t->dir . "/$name";
    my @cmd = ('ffmpeg', '-nostdin', '-loglevel', 'error', '-y',
               '-f', 'lavfi', '-i', 'sine=frequency=440:duration=1',
               @{$files{$name}[0]}, $path);
    system(@cmd) == 0 or BAIL_OUT("ffmpeg failed: @cmd");
    $data{$name} = $t->read_file($name);
    ok(length $data{$name} > 1000, "ffmpeg wrote $name");
}

sub post {
    my ($uri, $body, $type) = @_;
    return http_post($port, $uri, $body, 'Content-Type' => $type);
}

sub json_str { defined $_[0] ? qq("$_[0]") : 'null' }

sub mismatch {
    my ($r, $type, $detected, $name) = @_;
    is($r->{status}, 415, "$name: 415");
    is($r->{headers}{'privacy-reason'}, 'upload_mismatch',
       "$name: upload_mismatch");
    is($r->{body}, qq({"error":"upload_mismatch","type":"$type",)
                   . qq("detected":) . json_str($detected) . "}\n",
       "$name: detected " . ($detected // 'nothing'));
}

for my $name (sort keys %files) {
    my ($opts, $good, $detected) = @{$files{$name}};
    my $len = length $data{$name};

    for my $type (@$good) {
        my $uri = $type =~ m{^video/} ? '/media' : '/audio';
        my $r = post($uri, $data{$name}, $type);
        is($r->{status}, 200, "$name declared $type passes");
        is($r->{body}, qq({"received":$len}\n), "... and arrives whole");
    }

    # declared as a type it is not, the answer names what it is
    my $wrong = $detected && $detected eq 'audio/flac' ? 'audio/wav'
                                                       : 'audio/flac';
    mismatch(post('/audio', $data{$name}, $wrong), $wrong, $detected,
             "$name declared $wrong");
}

# the wrong types a client is likeliest to send
mismatch(post('/audio', $data{'id3.mp3'}, 'audio/wav'), 'audio/wav',
         'audio/mpeg', 'an MP3 declared audio/wav');
mismatch(post('/audio', $data{'tone.wav'}, 'audio/mpeg'), 'audio/mpeg',
         'audio/wav', 'a WAV declared audio/mpeg');
mismatch(post('/audio', sample('png', 2000), 'audio/mpeg'), 'audio/mpeg',
         'image/png', 'a PNG declared audio/mpeg');
mismatch(post('/audio', $data{'adts.aac'}, 'audio/mpeg'), 'audio/mpeg',
         undef, 'ADTS AAC declared audio/mpeg');
mismatch(post('/audio', $data{'tone.webm'}, 'audio/ogg'), 'audio/ogg',
         'video/webm', 'a WebM declared audio/ogg');
mismatch(post('/audio', $data{'vorbis.ogg'}, 'audio/webm'), 'audio/webm',
         'audio/ogg', 'an Ogg declared audio/webm');
mismatch(post('/audio', $data{'tone.m4a'}, 'audio/mpeg'), 'audio/mpeg',
         'audio/mp4', 'an M4A declared audio/mpeg');
# an M4A says of itself that it holds no video
mismatch(post('/media', $data{'tone.m4a'}, 'video/mp4'), 'video/mp4',
         'audio/mp4', 'an M4A declared video/mp4');
mismatch(post('/audio', sample('html', 2000), 'audio/ogg'), 'audio/ogg',
         undef, 'HTML declared audio/ogg');

# an audio type without a signature is refused while sniffing is on
my $r = post('/audio', $data{'adts.aac'}, 'audio/aac');
is($r->{status}, 415, 'audio/aac has no signature: 415');
is($r->{headers}{'privacy-reason'}, 'upload_mismatch', '... upload_mismatch');

# streamed in 3-byte chunks: the head is gathered before it is judged
sub chunked {
    my ($type, $body, $piece) = @_;
    my @chunks = map { substr($body, $_ * $piece, $piece) }
                 0 .. int((length($body) - 1) / $piece);
    return http($port, [ "POST /audio HTTP/1.1\r\nHost: x\r\n"
                         . "Content-Type: $type\r\n"
                         . "Transfer-Encoding: chunked\r\n"
                         . "Connection: close\r\n\r\n",
                         (map { sprintf('%x', length) . "\r\n$_\r\n" }
                          @chunks), "0\r\n\r\n" ]);
}

my $head = substr($data{'mpeg1.mp3'}, 0, 300);
is(chunked('audio/mpeg', $head, 3)->{status}, 200,
   'a chunked MP3 in 3-byte chunks passes');
is(chunked('audio/flac', $head, 3)->{status}, 415,
   'a chunked MP3 declared audio/flac is refused');

# a multipart form with an audio file part
my $B = '----privacyedgeAudioBoundary4f1c';
$r = http_post($port, '/audio',
               multipart_body($B, ['prompt', undef, undef, 'hum along'],
                              ['file', 'a.flac', 'audio/flac',
                               $data{'tone.flac'}]),
               'Content-Type' => "multipart/form-data; boundary=$B");
is($r->{status}, 200, 'a FLAC file part declared audio/flac passes');
$r = http_post($port, '/audio',
               multipart_body($B, ['file', 'a.mp3', 'audio/mpeg',
                               $data{'tone.wav'}]),
               'Content-Type' => "multipart/form-data; boundary=$B");
is($r->{status}, 415, 'a WAV file part declared audio/mpeg is refused');
is($r->{body}, qq({"error":"upload_mismatch","type":"audio/mpeg",)
               . qq("detected":"audio/wav","part":"file"}\n),
   '... naming the part and what it is');

$t->nginx_stop;
like($t->access_log, qr/decision=upload_mismatch/,
     'the access log records upload_mismatch');

done_testing();
