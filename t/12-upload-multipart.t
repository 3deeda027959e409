#!/usr/bin/perl

# multipart/form-data through the edge: each file part's type, cap and
# leading bytes are checked while the body streams in, wherever the bytes
# are split; malformed bodies are a 400 with a reason; the upstream gets
# an accepted body byte for byte and nothing of a refused one.

use strict;
use warnings;

use Test::More;

use lib 't/lib';
use PETest;

my $t = PETest->new;
$t->upstream('app');

$t->nginx_start(<<'EOF');
    client_body_buffer_size 128;

    server {
        listen 127.0.0.1:%%PORT%%;

        location /jobs {
            privacy_upload_max_size 64k;
            privacy_upload_type image/png 2k;
            privacy_upload_type image/jpeg 2k;
            privacy_upload_type video/mp4 16k;
            privacy_upload_sniff on;
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }

        location /unbuffered {
            privacy_upload_type image/png 2k;
            privacy_upload_sniff on;
            proxy_request_buffering off;
            proxy_http_version 1.1;
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }
    }
EOF

my $port = $t->port;
my $B = '----privacyedgeBoundary7MA4YWxkTrZu0gW';
my $CT = "multipart/form-data; boundary=$B";

sub post {
    my ($uri, $body, $ct) = @_;
    return http_post($port, $uri, $body, 'Content-Type' => $ct // $CT);
}

sub reason_of { $_[0]{headers}{'privacy-reason'} // '' }

my $good = multipart_body($B,
    ['prompt', undef, undef,
     "a cat surfing\r\n--" . substr($B, 0, -1) . "-ish, at dusk"],
    ['model', undef, undef, 'fal-ai/kling-video'],
    ['file', 'cat.png', 'image/png', sample('png', 1500)],
    ['clip', 'c.mp4', 'video/mp4', sample('mp4', 9000)]);

my $r = post('/jobs', $good);
is($r->{status}, 200, 'a form with a prompt, a PNG and an MP4 passes');
my $reqs = $t->upstream_settle('app', 1);
is($reqs->[-1]{body}, $good, 'the upstream got the body byte for byte');

# per part refusals
$r = post('/jobs', multipart_body($B, ['prompt', undef, undef, 'x'],
                                  ['file', 'x.html', 'text/html', 'hi']));
is($r->{status}, 415, 'a text/html file part: 415');
is($r->{body}, qq({"error":"upload_type","type":"text/html","part":"file"}\n),
   '... naming the type and the part');

$r = post('/jobs', multipart_body($B,
    ['file', 'a.png', 'image/png', sample('png', 100)],
    ['second', 'b.png', 'image/png', sample('html', 100)]));
is($r->{status}, 415, 'a disguised second file: 415');
is($r->{body}, qq({"error":"upload_mismatch","type":"image/png",)
               . qq("detected":null,"part":"second"}\n), '... as a mismatch');

$r = post('/jobs', multipart_body($B,
    ['file', 'a.jpg', 'image/jpeg', sample('png', 100)]));
is($r->{body}, qq({"error":"upload_mismatch","type":"image/jpeg",)
               . qq("detected":"image/png","part":"file"}\n),
   'a PNG declared image/jpeg: mismatch, detected image/png');

$r = post('/jobs', multipart_body($B,
    ['file', 'a.png', 'image/png', sample('png', 2049)]));
is($r->{status}, 413, 'a part one byte over its type cap: 413');
is($r->{body}, qq({"error":"upload_too_large","limit":2048,)
               . qq("type":"image/png","part":"file"}\n), '... with the cap');
is(post('/jobs', multipart_body($B,
    ['file', 'a.png', 'image/png', sample('png', 2048)]))->{status}, 200,
   'a part exactly at its cap passes');

$r = post('/jobs', multipart_body($B,
    ['file', 'a.png', undef, sample('png', 100)]));
is($r->{status}, 415, 'a file part without a Content-Type: 415');
is($r->{body}, qq({"error":"upload_type","type":"application/octet-stream",)
               . qq("part":"file"}\n), '... it is of no known type');

$r = post('/jobs', multipart_body($B,
    ['notafile', undef, 'image/png', sample('html', 100)]));
is(reason_of($r), 'upload_mismatch',
   'a typed part without a filename is checked like a file');

$r = post('/jobs', multipart_body($B,
    ['file', 'empty.png', 'image/png', '']));
is(reason_of($r), 'upload_mismatch', 'a zero-length file is no PNG');

$r = post('/jobs', multipart_body($B,
    ['f\\"ile\\\\', 'a.png', 'text/html', 'x']));
is($r->{body}, qq({"error":"upload_type","type":"text/html",)
               . qq("part":"f\\"ile\\\\"}\n),
   'a hostile part name is escaped in the answer');

# malformed bodies
sub malformed {
    my ($body, $detail, $name, $ct) = @_;
    my $r = post('/jobs', $body, $ct);
    is($r->{status}, 400, "$name: 400");
    is($r->{body}, qq({"error":"upload_malformed","detail":"$detail"}\n),
       "$name: $detail");
}

(my $truncated = $good) =~ s/--\Q$B\E--\r\n$//;
malformed($truncated, 'truncated body', 'no close delimiter');
malformed(substr($good, 0, 100), 'truncated body', 'cut in the middle');
malformed('just some bytes', 'no parts', 'no boundary in the body');
malformed($good, 'no boundary', 'no boundary parameter',
          'multipart/form-data');
malformed("--$B\r\nContent-Disposition: form-data; name=a\r\n"
          . ('X-Pad: ' . ('y' x 100) . "\r\n") x 90 . "\r\nx\r\n--$B--\r\n",
          'part headers too large', 'huge part headers');
malformed(join('', map { "--$B\r\nContent-Disposition: form-data; "
                         . "name=f$_\r\n\r\nv\r\n" } 1 .. 257) . "--$B--\r\n",
          'too many parts', '257 parts');
malformed("--$B\r\nContent-Type: image/png\r\n\r\nx\r\n--$B--\r\n",
          'part without Content-Disposition', 'a part without a disposition');
malformed("--$B\nContent-Disposition: form-data; name=a\n\nx\n--$B--\n",
          'garbage after boundary', 'bare LF line ends');

# a boundary split at every byte position, with a small body buffer
my $small = multipart_body($B,
    ['prompt', undef, undef, 'hi'],
    ['file', 'p.png', 'image/png', sample('png', 40)]);
my $bad = multipart_body($B,
    ['prompt', undef, undef, 'hi'],
    ['file', 'p.png', 'image/png', sample('gif', 40)]);
my $head = "POST /jobs HTTP/1.1\r\nHost: x\r\nContent-Type: $CT\r\n"
         . "Connection: close\r\nContent-Length: ";

my ($ok_good, $ok_bad, $ok_body) = (0, 0, 0);
my $mark = $t->upstream_mark('app');
for my $i (1 .. length($small) - 1) {
    my $r = http($port, [ $head . length($small) . "\r\n\r\n"
                          . substr($small, 0, $i), substr($small, $i) ],
                 pause => 0.005);
    $ok_good++ if $r->{status} == 200;
}
for my $i (1 .. length($bad) - 1) {
    my $r = http($port, [ $head . length($bad) . "\r\n\r\n"
                          . substr($bad, 0, $i), substr($bad, $i) ],
                 pause => 0.005);
    $ok_bad++ if $r->{status} == 415;
}
$t->upstream_settle('app', $mark + length($small) - 1);
my @after = $t->upstream_since($mark, 'app');
$ok_body = grep { ($_->{body} // '') eq $small } @after;

is($ok_good, length($small) - 1,
   'a good body split at every byte position passes every time');
is($ok_bad, length($bad) - 1,
   'a disguised body split at every byte position is refused every time');
is($ok_body, length($small) - 1, 'and the upstream got only the good ones, '
   . 'each byte for byte');

# pipelined uploads on one connection: good, then disguised
$r = http($port, "POST /jobs HTTP/1.1\r\nHost: x\r\nContent-Type: $CT\r\n"
                . "Content-Length: " . length($small) . "\r\n\r\n$small"
                . "POST /jobs HTTP/1.1\r\nHost: x\r\nContent-Type: $CT\r\n"
                . "Content-Length: " . length($bad) . "\r\n\r\n$bad",
          all => 1);
my @statuses = $r->{raw} =~ m{^HTTP/1\.1 (\d+)}mg;
is_deeply(\@statuses, [200, 415], 'pipelined uploads: 200, then 415');

# unbuffered: a disguised first file never reaches the upstream
$mark = $t->upstream_mark('app');
my $form = multipart_body($B, ['prompt', undef, undef, 'p' x 300],
                          ['file', 'x.png', 'image/png', sample('html', 900)]);
$r = http($port, [ "POST /unbuffered HTTP/1.1\r\nHost: x\r\nContent-Type: $CT"
                   . "\r\nContent-Length: " . length($form)
                   . "\r\nConnection: close\r\n\r\n",
                   substr($form, 0, 200), substr($form, 200, 300),
                   substr($form, 500) ], pause => 0.1);
is($r->{status}, 415, 'unbuffered multipart: disguised file refused');
@after = $t->upstream_since($mark, 'app');
ok(!grep({ length($_->{body} // '') } @after),
   'unbuffered multipart: the upstream received no byte of it');

$form = multipart_body($B, ['prompt', undef, undef, 'p' x 300],
                       ['file', 'x.png', 'image/png', sample('png', 900)]);
$r = http($port, [ "POST /unbuffered HTTP/1.1\r\nHost: x\r\nContent-Type: $CT"
                   . "\r\nContent-Length: " . length($form)
                   . "\r\nConnection: close\r\n\r\n",
                   substr($form, 0, 200), substr($form, 200) ], pause => 0.1);
is($r->{status}, 200, 'unbuffered multipart: a true PNG streams through');
is($r->{body}, '{"received":' . length($form) . "}\n",
   'unbuffered multipart: every byte arrived');

$t->nginx_stop;

done_testing();
