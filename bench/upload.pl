#!/usr/bin/perl

# The upload gate's cost, measured side by side in one run:
#
#  1. throughput of valid 1 MB uploads (raw PNG and multipart) through a
#     location with privacy_upload_max_size/_type/_sniff, against the same
#     location without them; wrk, rounds alternating, medians and ratio;
#  2. time to 413 for a declared 10 MB against a declared 10 GB body: it
#     must not grow with the declared size;
#  3. userland instructions per request under callgrind, which repeat
#     exactly: what the module itself costs.
#
# The machines are noisy: an A/A row (bare against an identical copy)
# shows the noise floor of the wrk rows; read medians and ratios.

use strict;
use warnings;

use IO::Socket::INET;
use List::Util qw(sum);
use Time::HiRes qw(time);

use lib 't/lib';
use PETest;

Test::More->builder->no_ending(1);

my $rounds = $ENV{BENCH_ROUNDS} // 5;
my $secs = $ENV{BENCH_SECONDS} // 3;
my $conns = $ENV{BENCH_CONNECTIONS} // 8;

my $t = PETest->new;
# one worker on CPU 1, wrk on CPU 0: less scheduling noise on two cores
$t->{bench_http} = <<'NGX';
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

        # the same as /bare: the A/A control shows the noise floor
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
$t->nginx_start($t->{bench_http}, workers => 1,
                main => 'worker_cpu_affinity 10;');

my $port = $t->port;
my $mb = 1024 * 1024;

# compressed media looks random: CR bytes all through the file, which is
# what the multipart scanner's slow path sees in real uploads
srand(20261122);
sub media {
    my ($size) = @_;
    my $m = sample('png', 64);
    return $m . pack('C*', map { int(rand(256)) } 1 .. $size - length $m);
}

my $png = media($mb);
my $B = 'benchBoundary9f8e7d';
my $form = multipart_body($B, ['prompt', undef, undef, 'a cat surfing'],
                          ['file', 'cat.png', 'image/png', media($mb - 300)]);

my %bodies = (
    raw => [ $t->write_file('raw.bin', $png), 'image/png' ],
    multipart => [ $t->write_file('form.bin', $form),
                   "multipart/form-data; boundary=$B" ],
);

sub median {
    my @s = sort { $a <=> $b } @_;
    return @s % 2 ? $s[$#s / 2] : ($s[@s / 2 - 1] + $s[@s / 2]) / 2;
}

# the worker's CPU time (user + system), in clock ticks
my $tick = 100;
my ($worker) = grep {
    open(my $fh, '<', "/proc/$_/stat") or next;
    (split ' ', scalar <$fh>)[3] == $t->{nginx_pid};
} map { m{/proc/(\d+)$} ? $1 : () } glob('/proc/[0-9]*');
die "no nginx worker found" unless $worker;

sub worker_cpu {
    open(my $fh, '<', "/proc/$worker/stat") or die "worker gone: $!";
    my @f = split ' ', scalar <$fh>;
    return ($f[13] + $f[14]) / $tick;
}

# (requests per second, worker CPU microseconds per request)
sub wrk {
    my ($uri, $kind) = @_;
    local $ENV{PE_BENCH_BODY} = $bodies{$kind}[0];
    local $ENV{PE_BENCH_TYPE} = $bodies{$kind}[1];
    my $cpu0 = worker_cpu();
    my $out = `taskset -c 0 wrk -t1 -c$conns -d${secs}s -s bench/post.lua http://127.0.0.1:$port$uri 2>&1`;
    my $cpu = worker_cpu() - $cpu0;
    my ($rps) = $out =~ /Requests\/sec:\s+([\d.]+)/;
    my ($n) = $out =~ /(\d+) requests in/;
    die "wrk failed:\n$out" unless defined $rps && $n;
    die "errors in wrk run:\n$out" if $out =~ /Non-2xx or 3xx responses/;
    return ($rps, $cpu / $n * 1e6);
}

printf "# privacy-edge upload gate, %d rounds of %ds, %d connections\n",
       $rounds, $secs, $conns;

# rounds in ABBA order, so neither side always runs first
sub compare {
    my ($label, $kind, $a_uri, $b_uri) = @_;
    my (%rps, %cpu);
    wrk($a_uri, $kind);             # warm up
    for my $round (1 .. $rounds) {
        for my $uri ($round % 2 ? ($a_uri, $b_uri) : ($b_uri, $a_uri)) {
            my ($r, $c) = wrk($uri, $kind);
            push @{ $rps{$uri} }, $r;
            push @{ $cpu{$uri} }, $c;
        }
    }
    my ($a, $b) = (median(@{ $rps{$a_uri} }), median(@{ $rps{$b_uri} }));
    printf "%-30s %7.1f req/s vs %7.1f req/s   ratio %.3f\n",
           $label, $b, $a, $b / $a;
    ($a, $b) = (median(@{ $cpu{$a_uri} }), median(@{ $cpu{$b_uri} }));
    printf "%-30s %7.1f us/req vs %6.1f us/req   ratio %.3f\n",
           '  nginx worker CPU per request', $b, $a, $a / $b;
}

compare('control: bare vs bare (A/A)', 'raw', '/bare', '/control');
compare('1 MB raw: checked vs bare', 'raw', '/bare', '/checked');
compare('1 MB multipart: checked vs bare', 'multipart', '/bare', '/checked');

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
my ($s, $h) = (median(@small), median(@huge));
printf "%-30s %7.1f us (10 GB) vs %5.1f us (10 MB)   ratio %.3f\n",
       'time to 413, median of 300', $h * 1e6, $s * 1e6, $h / $s;

$t->nginx_stop_quiet;

# Userland instructions per request, counted by callgrind: repeatable
# whatever else the machine does (the kernel's copying is not counted,
# so the ratio shows the module's own work, not end-to-end throughput).
if (!system('valgrind --version >/dev/null 2>&1')) {
    my $n = 20;
    my %ir;
    for my $uri ('/bare', '/checked') {
        for my $kind (qw(raw multipart)) {
            my $cg = PETest->new;
            my $conf = $cg->write_file('nginx.conf', $cg->nginx_conf(
                $t->{bench_http}, master_process => 'off'));
            my $pid = $cg->spawn('valgrind', 'valgrind', '--tool=callgrind',
                "--callgrind-out-file=" . $cg->dir . '/cg.out',
                $PETest::NGINX, '-p', $cg->dir . '/', '-c', $conf,
                '-e', $cg->dir . '/error.log');
            wait_port($cg->port, 30) or die 'nginx under valgrind: no start';
            my $body = do {
                open(my $fh, '<', $bodies{$kind}[0]) or die;
                binmode $fh;
                local $/;
                <$fh>;
            };
            for (1 .. $n) {
                my $r = http_post($cg->port, $uri, $body,
                                  'Content-Type' => $bodies{$kind}[1]);
                die "callgrind run: $r->{status}" unless $r->{status} == 204;
            }
            $cg->stop_pid($pid, 'QUIT', 60);
            my ($total) = ($cg->read_file('valgrind.log') // '')
                =~ /Collected : (\d+)/;
            $ir{$uri}{$kind} = $total;
        }
    }
    for my $kind (qw(raw multipart)) {
        my ($b, $c) = ($ir{'/bare'}{$kind}, $ir{'/checked'}{$kind});
        printf "%-30s %7.0fk instr/req vs %5.0fk   ratio %.3f, "
               . "the module adds %.0fk\n",
               "callgrind, 1 MB $kind:", $c / $n / 1e3, $b / $n / 1e3,
               $b / $c, ($c - $b) / $n / 1e3;
    }
}
