#!/usr/bin/perl

# HTTP/2 bodies take another road through nginx (DATA frames, no chunked
# coding, often no Content-Length): the gate counts and checks them in the
# same request body filter.  curl speaks HTTP/2 with prior knowledge.

use strict;
use warnings;

use Test::More;
use File::Temp qw(tempfile);

use lib 't/lib';
use PETest;

# curl is installed by scripts/deps.sh: its absence is a failure, not a skip
my $curl = '/usr/bin/curl';
BAIL_OUT("$curl is missing (scripts/deps.sh installs it)") unless -x $curl;
BAIL_OUT('curl has no HTTP/2') unless `$curl -V` =~ /\bHTTP2\b/;

my $t = PETest->new;
$t->upstream('app');

$t->nginx_start(<<'EOF');
    client_body_buffer_size 1k;

    server {
        listen 127.0.0.1:%%PORT%% http2;

        location /upload {
            privacy_upload_max_size 64k;
            privacy_upload_type image/png 16k;
            privacy_upload_sniff on;
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }

        location /unbuffered {
            privacy_upload_type image/png 16k;
            privacy_upload_sniff on;
            proxy_request_buffering off;
            proxy_http_version 1.1;
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }
    }
EOF

my $port = $t->port;

# curl --http2-prior-knowledge; $len: undef sends Content-Length, 'none'
# streams the body without one
sub h2 {
    my ($uri, $body, $type, $len) = @_;
    my ($fh, $file) = tempfile(DIR => $t->dir);
    binmode $fh;
    print $fh $body;
    close $fh;
    my @cmd = ($curl, '-s', '--http2-prior-knowledge', '-o', '-',
               '-w', '\n%{http_code} %{http_version}', '-X', 'POST',
               '-H', "Content-Type: $type");
    if (($len // '') eq 'none') {
        # -T - streams stdin: HTTP/2 DATA frames and no Content-Length
        # (checked: nginx logs $http_content_length as "-" for it)
        push @cmd, '-T', '-';
        open(my $in, '<', $file) or die;
        open(my $out, '-|') // die "fork: $!" or do {
            open(STDIN, '<&', $in);
            exec(@cmd, "http://127.0.0.1:$port$uri");
        };
        local $/;
        my $res = <$out>;
        close $out;
        return split_res($res);
    }
    push @cmd, '--data-binary', "\@$file";
    open(my $out, '-|', @cmd, "http://127.0.0.1:$port$uri") or die;
    local $/;
    my $res = <$out>;
    close $out;
    return split_res($res);
}

sub split_res {
    my ($res) = @_;
    my ($body, $status, $ver) = $res =~ /^(.*)\n(\d+) (\S+)$/s;
    return { body => $body, status => $status, version => $ver };
}

my $r = h2('/upload', sample('png', 5000), 'image/png');
is($r->{version}, '2', 'the request went over HTTP/2');
is($r->{status}, 200, 'HTTP/2: a PNG passes');
is($r->{body}, qq({"received":5000}\n), 'HTTP/2: the upstream got all of it');

# refusals: the harness's client, which reads an early answer (curl 7.88
# reports no status when an HTTP/2 answer comes before its upload ended)
sub pieces {
    my ($body, $n) = @_;
    return [ map { substr($body, $_ * $n, $n) }
             0 .. int((length($body) - 1) / $n) ];
}

$r = http2_request($port, '/upload', pieces(sample('html', 5000), 1000),
                   'content-type' => 'image/png',
                   'content-length' => '5000');
is($r->{status}, 415, 'HTTP/2: a disguised upload is refused');
like($r->{body}, qr/"error":"upload_mismatch"/, '... as upload_mismatch');

# refused from the headers alone: not one DATA frame is sent
$r = http2_headers_only($port, '/upload', 'content-type' => 'image/png',
                        'content-length' => '20000');
is($r->{status}, 413,
   'HTTP/2 with Content-Length over the type cap: 413 before any DATA');
is($r->{body}, qq({"error":"upload_too_large","limit":16384,)
               . qq("type":"image/png"}\n), '... with the JSON answer');
$r = http2_headers_only($port, '/upload', 'content-type' => 'text/html',
                        'content-length' => '100');
is($r->{status}, 415, 'HTTP/2: a type not allowed, refused on headers alone');

$r = http2_request($port, '/upload', pieces(sample('png', 20000), 4000),
                   'content-type' => 'image/png');
is($r->{status}, 413, 'HTTP/2 without a length, over the cap: cut with 413');
like($r->{body}, qr/"limit":16384/, '... naming the cap');

$r = h2('/upload', sample('png', 9000), 'image/png', 'none');
is($r->{status}, 200, 'HTTP/2 without a length, under the cap: passes');
is($r->{body}, qq({"received":9000}\n), '... whole');

my $mark = $t->upstream_mark('app');
$r = http2_request($port, '/unbuffered', pieces(sample('gif', 9000), 3000),
                   'content-type' => 'image/png');
is($r->{status}, 415, 'HTTP/2 unbuffered: a GIF declared PNG is refused');
my @after = $t->upstream_since($mark, 'app');
ok(!grep({ length($_->{body} // '') } @after),
   'HTTP/2 unbuffered: the upstream received none of it');

$r = h2('/unbuffered', sample('png', 9000), 'image/png', 'none');
is($r->{status}, 200, 'HTTP/2 unbuffered: a PNG streams through');
is($r->{body}, qq({"received":9000}\n), '... whole');

$t->nginx_stop;

my @nolen = $t->access_log =~ m{"POST /\w+ HTTP/2\.0" \d+ \S+ length=-$}mg;
is(scalar @nolen, 4, 'four of the requests had no Content-Length at all');

done_testing();
