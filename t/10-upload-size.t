#!/usr/bin/perl

# privacy_upload_max_size: a declared length over the cap is refused before
# the body is read (no 100 Continue), a chunked body is cut at the cap, the
# upstream never sees a refused body, and refusals are clear JSON.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);

use lib 't/lib';
use PETest;

my $t = PETest->new;
my $up = $t->upstream('app');

$t->nginx_start(<<'EOF');
    client_body_buffer_size 256;

    server {
        listen 127.0.0.1:%%PORT%%;

        location /upload {
            privacy_upload_max_size 1k;
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }

        location /unbuffered {
            privacy_upload_max_size 1k;
            proxy_request_buffering off;
            proxy_http_version 1.1;
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }

        location /own-page {
            privacy_upload_max_size 1k;
            error_page 413 /oversize.txt;
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }

        location = /oversize.txt {
            internal;
            default_type text/plain;
            return 200 "the operator's own page\n";
        }

        location /plain {
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }
    }
EOF

my $port = $t->port;
my $json_413 = qr/^\{"error":"upload_too_large","limit":1024\}$/;

sub refused_413 {
    my ($r, $name) = @_;
    is($r->{status}, 413, "$name: 413");
    is($r->{headers}{'privacy-reason'}, 'upload_too_large',
       "$name: Privacy-Reason");
    is($r->{headers}{'content-type'}, 'application/json',
       "$name: a JSON answer");
    like($r->{body}, $json_413, "$name: the body names the reason and limit");
}

# exactly at the cap, and one byte over
my $r = http_post($port, '/upload', 'a' x 1024);
is($r->{status}, 200, 'a body of exactly 1 KiB passes');
is($r->{body}, qq({"received":1024}\n), 'the upstream got all of it');

refused_413(http_post($port, '/upload', 'a' x 1025), 'one byte over');

# Expect: 100-continue with a declared 10 MB: refused, no 100 Continue
$r = http($port, "POST /upload HTTP/1.1\r\nHost: x\r\n"
                . "Content-Length: 10485760\r\nExpect: 100-continue\r\n\r\n");
refused_413($r, 'declared 10 MB with Expect');
ok(!$r->{interim}, 'no 100 Continue was sent for a refused body');

# ... and an accepted one gets its 100 Continue
$r = http($port, ["POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                  . "Expect: 100-continue\r\nConnection: close\r\n\r\n",
                  "hello"], pause => 0.3);
is_deeply($r->{interim}, ['100'], 'an allowed body is asked for');
is($r->{status}, 200, "and accepted") or diag(explain $r->{raw});

# a declared size far over the cap costs no more time than a small excess
my $t0 = time;
$r = http($port, "POST /upload HTTP/1.1\r\nHost: x\r\n"
                . "Content-Length: 10737418240\r\n\r\n");
refused_413($r, 'declared 10 GB');
ok(time - $t0 < 1, 'answered at once');

# chunked: counted as it streams, cut at the cap
sub chunked {
    my ($uri, @chunks) = @_;
    my $req = "POST $uri HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            . "Connection: close\r\n\r\n";
    return [ $req, (map { sprintf('%x', length) . "\r\n$_\r\n" } @chunks),
             "0\r\n\r\n" ];
}

$r = http($port, chunked('/upload', ('b' x 256) x 4), pause => 0.02);
is($r->{status}, 200, 'chunked body of exactly 1 KiB passes');
is($r->{body}, qq({"received":1024}\n), 'upstream got all 1024 bytes');

my $mark = $t->upstream_mark('app');
$r = http($port, chunked('/upload', ('b' x 256) x 4, 'c'), pause => 0.02);
refused_413($r, 'chunked body one byte over');

$r = http($port, chunked('/upload', ('b' x 300) x 20), pause => 0.01);
refused_413($r, 'chunked body far over');
is($t->upstream_mark('app'), $mark,
   'the upstream saw nothing of the refused chunked bodies');

# unbuffered: the upstream request never completes
$mark = $t->upstream_mark('app');
$r = http($port, chunked('/unbuffered', ('d' x 300) x 10), pause => 0.02);
refused_413($r, 'unbuffered chunked body over the cap');
my @after = $t->upstream_since($mark, 'app');
ok(!grep({ $_->{complete} } @after),
   'the upstream never received a complete refused body');

# an operator's error_page wins over the JSON answer
$r = http_post($port, '/own-page', 'a' x 2000);
is($r->{status}, 413, 'error_page: still 413');
is($r->{body}, "the operator's own page\n", 'error_page: the operator page');

# HTTP/1.0 without a length has no body: nothing to count
$r = http($port, "POST /upload HTTP/1.0\r\nHost: x\r\n\r\n" . ('z' x 5000),
          all => 1);
is($r->{status}, 200, 'HTTP/1.0 POST without a length: no body, passes');
is($r->{body}, qq({"received":0}\n), 'and the upstream got no body');

# pipelined: the first is served, the oversize second refused
$r = http($port, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                . "\r\nabc"
                . "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n"
                . "\r\n", all => 1);
my @statuses = $r->{raw} =~ m{^HTTP/1\.1 (\d+)}mg;
is_deeply(\@statuses, [200, 413], 'pipelined: 200 then 413');

# a client that goes away mid-body
for my $uri ('/upload', '/unbuffered') {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port)
        or die;
    print $s "POST $uri HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
        . ('e' x 500);
    select(undef, undef, undef, 0.1);
    close $s;
}
$r = http_post($port, '/upload', 'still fine');
is($r->{status}, 200, 'after clients aborted mid-body, nginx serves on');

# no directive: nothing changes
$r = http_post($port, '/plain', 'p' x 5000);
is($r->{status}, 200, 'a location without the directive is not limited');

# the access log says why
$t->nginx_stop;
like($t->access_log, qr{"POST /upload HTTP/1.1" 413 decision=upload_too_large},
     '$privacy_decision names the refusal in the access log');
like($t->access_log, qr{"POST /own-page HTTP/1.1" 413 decision=upload_too_large},
     '... also when an error_page served the answer');
like($t->access_log, qr{"POST /plain HTTP/1.1" 200 decision=allow},
     '... and allow otherwise');

done_testing();
