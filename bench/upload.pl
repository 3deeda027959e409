#!/usr/bin/perl

# The upload gate's cost, measured side by side in one run:
#
#  1. throughput of valid 1 MB uploads (raw PNG and multipart) through a
#     location with privacy_upload_max_size/_type/_sniff, against the same
#     location without them (wrk), with an A/A row (bare against an
#     identical copy) that shows the noise floor;
#  2. time to 413 for a declared 10 MB against a declared 10 GB body: it
#     must not grow with the declared size;
#  3. userland instructions per request under callgrind, which repeat
#     exactly: what the module itself costs.
#
# The machines are noisy: read medians and ratios.

use strict;
use warnings;

use IO::Socket::INET;
use Time::HiRes qw(time);

use lib 't/lib', 'bench';
use PETest;
use PEBench;

my $http = <<'NGX';
    client_body_buffer_size 2m;
    access_log off;

    upstream sink {
        server 127.0.0.1:%%PORT_sink%%;
        keepalive 32;
    }

    server {
        listen 127.0.0.1:%%PORT%% backlog=1024;

        location /checked {
            privacy_upload_max_size 4m;
            privacy_upload_type image/png 2m;
            privacy_upload_sniff on;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://sink;
        }

        location /bare {
            client_max_body_size 4m;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://sink;
        }

        # the same as /bare: the A/A control
        location /control {
            client_max_body_size 4m;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://sink;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_sink%%;
        location / {
            return 204;
        }
    }
NGX

my $b = PEBench->new(http => $http);
my $t = $b->t;
my $port = $b->port;
my $mb = 1024 * 1024;

# compressed media looks random: CR bytes all through the file, which is
# what the multipart scanner's slow path sees in real uploads
srand(20261122);
sub media {
    my ($size) = @_;
    my $m = sample('png', 64);
    return $m . pack('C*', map { int(rand(256)) } 1 .. $size - length $m);
}

my $B = 'benchBoundary9f8e7d';
my %bodies = (
    raw => [ $t->write_file('raw.bin', media($mb)), 'image/png' ],
    multipart => [ $t->write_file('form.bin', multipart_body($B,
                        ['prompt', undef, undef, 'a cat surfing'],
                        ['file', 'cat.png', 'image/png', media($mb - 300)])),
                   "multipart/form-data; boundary=$B" ],
);

sub body_of {
    my ($kind) = @_;
    return (script => 'bench/post.lua',
            env => { PE_BENCH_BODY => $bodies{$kind}[0],
                     PE_BENCH_TYPE => $bodies{$kind}[1] });
}

$b->header('privacy-edge upload gate');
$b->compare('control: bare vs bare (A/A)', '/bare', '/control',
            body_of('raw'));
$b->compare('1 MB raw: checked vs bare', '/bare', '/checked',
            body_of('raw'));
$b->compare('1 MB multipart: checked vs bare', '/bare', '/checked',
            body_of('multipart'));

# time to 413 by declared size
sub time_to_413 {
    my ($len) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port)
        or die "connect: $!";
    my $t0 = time;
    syswrite($s, "POST /checked HTTP/1.1\r\nHost: bench\r\n"
                 . "Content-Type: image/png\r\nContent-Length: $len\r\n\r\n");
    my $buf = '';
    sysread($s, $buf, 4096);
    my $dt = time - $t0;
    close $s;
    die "expected 413, got: $buf" unless $buf =~ m{^HTTP/1\.1 413};
    return $dt;
}

my (@small, @huge);
for (1 .. 300) {
    push @small, time_to_413(10 * $mb);
    push @huge, time_to_413(10 * 1024 * $mb);
}
my ($s, $h) = (PEBench::median(@small), PEBench::median(@huge));
printf "%-34s %6.1f us (10 GB) vs %5.1f us (10 MB)   ratio %.3f\n",
       'time to 413, median of 300', $h * 1e6, $s * 1e6, $h / $s;

for my $kind (qw(raw multipart)) {
    my $body = $t->read_file($bodies{$kind}[0]);
    my $ir = $b->callgrind(20, sub {
        my ($port, $uri) = @_;
        return http_post($port, $uri, $body,
                         'Content-Type' => $bodies{$kind}[1])->{status} == 204;
    }, '/bare', '/checked') or last;
    PEBench::callgrind_row("callgrind, 1 MB $kind:", $ir->{'/bare'},
                           $ir->{'/checked'});
}

$t->nginx_stop_quiet;
