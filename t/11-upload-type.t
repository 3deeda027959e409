#!/usr/bin/perl

# privacy_upload_type and privacy_upload_sniff on raw bodies: the declared
# Content-Type must be allowed (415 upload_type), its own cap holds (413),
# and the first bytes must be what the type says (415 upload_mismatch),
# also when the body is chunked or unbuffered.

use strict;
use warnings;

use Test::More;

use lib 't/lib';
use PETest;

my $t = PETest->new;
$t->upstream('app');

$t->nginx_start(<<'EOF');
    client_body_buffer_size 256;

    server {
        listen 127.0.0.1:%%PORT%%;

        location /img {
            privacy_upload_type image/* 4k;
            privacy_upload_type image/png 1k;
            privacy_upload_sniff on;
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }

        location /media {
            privacy_upload_max_size 1m;
            privacy_upload_type image/* 0;
            privacy_upload_type video/* 0;
            privacy_upload_sniff on;
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }

        location /nosniff {
            privacy_upload_type image/png 1k;
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }

        location /sniff-only {
            privacy_upload_sniff on;
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }

        location /unbuffered {
            privacy_upload_type image/png 1m;
            privacy_upload_sniff on;
            proxy_request_buffering off;
            proxy_http_version 1.1;
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }
    }
EOF

my $port = $t->port;

sub post {
    my ($uri, $kind, $size, $type) = @_;
    my $body = ref $kind ? $$kind : sample($kind, $size);
    $type //= media_of($kind);
    return http_post($port, $uri, $body,
                     defined $type ? ('Content-Type' => $type) : ());
}

sub refused {
    my ($r, $status, $reason, $json, $name) = @_;
    is($r->{status}, $status, "$name: $status");
    is($r->{headers}{'privacy-reason'}, $reason, "$name: $reason");
    is($r->{body}, "$json\n", "$name: JSON body");
}

my $r = post('/img', 'png', 1000);
is($r->{status}, 200, 'a PNG declared image/png passes');
is($r->{body}, qq({"received":1000}\n), 'and reaches the upstream whole');

refused(post('/img', 'png', 1025), 413, 'upload_too_large',
        '{"error":"upload_too_large","limit":1024,"type":"image/png"}',
        'a PNG over the image/png cap (exact type beats image/*)');

is(post('/img', 'jpeg', 4096)->{status}, 200,
   'a JPEG at the image/* cap passes');
refused(post('/img', 'jpeg', 4097), 413, 'upload_too_large',
        '{"error":"upload_too_large","limit":4096,"type":"image/jpeg"}',
        'a JPEG one byte over the image/* cap');

refused(post('/img', 'html', 100), 415, 'upload_type',
        '{"error":"upload_type","type":"text/html"}', 'text/html');
refused(post('/img', 'png', 100, 'video/mp4'), 415, 'upload_type',
        '{"error":"upload_type","type":"video/mp4"}', 'a type not listed');
refused(http_post($port, '/img', sample('png', 100)), 415, 'upload_type',
        '{"error":"upload_type","type":null}', 'no Content-Type');
refused(post('/img', 'png', 100, 'image'), 415, 'upload_type',
        '{"error":"upload_type","type":"image"}', 'a malformed Content-Type');
refused(post('/img', 'png', 100, "image/png\"; x=\"\\"), 415, 'upload_type',
        '{"error":"upload_type","type":"image/png\"; x=\"\\\\"}',
        'a hostile Content-Type is escaped in the answer');

refused(post('/img', 'html', 100, 'image/png'), 415, 'upload_mismatch',
        '{"error":"upload_mismatch","type":"image/png","detected":null}',
        'HTML declared image/png');
refused(post('/img', 'jpeg', 100, 'image/png'), 415, 'upload_mismatch',
        '{"error":"upload_mismatch","type":"image/png",'
        . '"detected":"image/jpeg"}', 'a JPEG declared image/png');
refused(post('/img', 'png', 100, 'image/svg+xml'), 415, 'upload_mismatch',
        '{"error":"upload_mismatch","type":"image/svg+xml","detected":null,'
        . '"detail":"no signature is known for this type"}',
        'sniffing a type without a signature refuses it');
is(post('/img', 'png', 100, 'Image/PNG; charset=binary')->{status}, 200,
   'type matching ignores case and parameters');

# every signature, right and wrong
for my $kind (qw(png jpeg gif webp heic avif mp4 mov webm)) {
    is(post('/media', $kind, 5000)->{status}, 200, "$kind passes as itself");
}

my %wrong = (png => 'image/jpeg', jpeg => 'image/png', gif => 'image/webp',
             webp => 'image/gif', heic => 'image/avif', avif => 'image/heic',
             mp4 => 'video/quicktime', mov => 'video/mp4',
             webm => 'video/mp4');
for my $kind (sort keys %wrong) {
    $r = post('/media', $kind, 5000, $wrong{$kind});
    is($r->{status}, 415, "$kind declared $wrong{$kind} is refused");
    is($r->{headers}{'privacy-reason'}, 'upload_mismatch',
       "... as upload_mismatch");
}

# the sniffer is off: the type alone is checked
is(post('/nosniff', 'html', 100, 'image/png')->{status}, 200,
   'without privacy_upload_sniff a disguised file is not looked at');
is(post('/sniff-only', 'png', 100)->{status}, 200,
   'privacy_upload_sniff alone: a true PNG passes');
is(post('/sniff-only', 'gif', 100, 'image/png')->{status}, 415,
   'privacy_upload_sniff alone: a GIF declared image/png is refused');

# an empty body has nothing to check
is(http_post($port, '/img', '', 'Content-Type' => 'image/png')->{status},
   200, 'an empty body passes');

# a 1-byte and a 7-byte file: judged at the end of the body
refused(post('/img', \"\x89", undef, 'image/png'), 415, 'upload_mismatch',
        '{"error":"upload_mismatch","type":"image/png","detected":null}',
        'a one-byte file is no PNG');

# chunked: checked while streaming, in small pieces
sub chunked {
    my ($uri, $type, $body, $piece) = @_;
    my @chunks = map { substr($body, $_ * $piece, $piece) }
                 0 .. int((length($body) - 1) / $piece);
    return http($port, [ "POST $uri HTTP/1.1\r\nHost: x\r\nContent-Type: $type"
                         . "\r\nTransfer-Encoding: chunked\r\n"
                         . "Connection: close\r\n\r\n",
                         (map { sprintf('%x', length) . "\r\n$_\r\n" }
                          @chunks), "0\r\n\r\n" ], pause => 0.01);
}

is(chunked('/img', 'image/png', sample('png', 1000), 3)->{status}, 200,
   'a chunked PNG in 3-byte chunks passes');
$r = chunked('/img', 'image/png', sample('gif', 1000), 3);
is($r->{status}, 415, 'a chunked GIF declared image/png is refused');
is($r->{headers}{'privacy-reason'}, 'upload_mismatch', '... as a mismatch');
$r = chunked('/img', 'image/png', sample('png', 1100), 100);
is($r->{status}, 413, 'a chunked PNG over its type cap is cut with 413');

# unbuffered: the upstream sees not a byte of a mismatching body
my $mark = $t->upstream_mark('app');
$r = http($port, [ "POST /unbuffered HTTP/1.1\r\nHost: x\r\n"
                   . "Content-Type: image/png\r\nContent-Length: 3000\r\n"
                   . "Connection: close\r\n\r\n",
                   substr(sample('html', 3000), 0, 10),
                   substr(sample('html', 3000), 10) ], pause => 0.2);
is($r->{status}, 415, 'unbuffered: a disguised upload is refused');
my @after = $t->upstream_since($mark, 'app');
ok(!grep({ length($_->{body} // '') } @after),
   'unbuffered: the upstream received no byte of the refused body');

$r = http($port, [ "POST /unbuffered HTTP/1.1\r\nHost: x\r\n"
                   . "Content-Type: image/png\r\nContent-Length: 3000\r\n"
                   . "Connection: close\r\n\r\n",
                   substr(sample('png', 3000), 0, 10),
                   substr(sample('png', 3000), 10) ], pause => 0.2);
is($r->{status}, 200, 'unbuffered: a true PNG streams through');
is($r->{body}, qq({"received":3000}\n), 'unbuffered: all of it, held bytes too');

$t->nginx_stop;
like($t->access_log, qr/decision=upload_mismatch/,
     'the access log records upload_mismatch');

done_testing();
