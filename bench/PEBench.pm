package PEBench;

# What the benchmarks share: nginx with one worker pinned to CPU 1 and wrk
# on CPU 0, rounds in ABBA order so neither side always runs first, the
# worker's CPU time per request from /proc, medians and ratios, and
# callgrind's instruction counts, which repeat exactly on a noisy machine.

use strict;
use warnings;

use Time::HiRes qw(time);

use lib 't/lib';
use PETest;

Test::More->builder->no_ending(1);

sub new {
    my ($class, %opt) = @_;
    my $self = bless {
        http => $opt{http},
        rounds => $ENV{BENCH_ROUNDS} // 6,     # even: A first as often as B
        secs => $ENV{BENCH_SECONDS} // 3,
        conns => $ENV{BENCH_CONNECTIONS} // 8,
        t => PETest->new,
    }, $class;

    my $t = $self->{t};
    $self->{setup} = $opt{setup};
    $self->{setup}->($t) if $self->{setup};
    $t->nginx_start($self->{http}, workers => 1,
                    main => 'worker_cpu_affinity 10;');

    ($self->{worker}) = grep {
        open(my $fh, '<', "/proc/$_/stat") or next;
        (split ' ', scalar <$fh>)[3] == $t->{nginx_pid};
    } map { m{/proc/(\d+)$} ? $1 : () } glob('/proc/[0-9]*');
    die "no nginx worker found" unless $self->{worker};

    return $self;
}

sub t { $_[0]{t} }
sub port { $_[0]{t}->port }

sub median {
    my @s = sort { $a <=> $b } @_;
    return @s % 2 ? $s[$#s / 2] : ($s[@s / 2 - 1] + $s[@s / 2]) / 2;
}

# the worker's user + system CPU seconds (clock ticks of 1/100 s)
sub worker_cpu {
    my ($self) = @_;
    open(my $fh, '<', "/proc/$self->{worker}/stat") or die "worker gone: $!";
    my @f = split ' ', scalar <$fh>;
    return ($f[13] + $f[14]) / 100;
}

# one wrk run: (requests per second, worker CPU microseconds per request);
# opt: script => lua file, env => {...}, headers => [...], conns => N
sub wrk {
    my ($self, $uri, %opt) = @_;
    local @ENV{ keys %{ $opt{env} // {} } } = values %{ $opt{env} // {} };
    my $args = join ' ', map { "-H '$_'" } @{ $opt{headers} // [] };
    $args .= " -s $opt{script}" if $opt{script};
    my $conns = $opt{conns} // $self->{conns};
    my $cpu0 = $self->worker_cpu;
    my $out = `taskset -c 0 wrk -t1 -c$conns -d$self->{secs}s $args http://127.0.0.1:${\ $self->port}$uri 2>&1`;
    my $cpu = $self->worker_cpu - $cpu0;
    my ($rps) = $out =~ /Requests\/sec:\s+([\d.]+)/;
    my ($n) = $out =~ /(\d+) requests in/;
    die "wrk failed:\n$out" unless defined $rps && $n;
    die "errors in wrk run:\n$out" if $out =~ /Non-2xx or 3xx responses/;
    return ($rps, $cpu / $n * 1e6);
}

# B against A round by round: each round runs the two back to back, so
# their ratio carries that round's noise on both sides, and a machine
# that slows between rounds moves no ratio.  The median of the rounds'
# ratios, and their range: "ratio 0.97 (0.95-0.99)".
sub paired {
    my ($base, $with) = @_;
    my @r = map { $with->[$_] / $base->[$_] } 0 .. $#$base;
    my @s = sort { $a <=> $b } @r;
    return sprintf('%.3f (%.3f-%.3f)', median(@r), $s[0], $s[-1]);
}

# A against B in ABBA rounds; prints B's throughput and CPU against A's
sub compare {
    my ($self, $label, $a_uri, $b_uri, %opt) = @_;
    my (%rps, %cpu);
    $self->wrk($a_uri, %opt);               # warm up
    for my $round (1 .. $self->{rounds}) {
        for my $uri ($round % 2 ? ($a_uri, $b_uri) : ($b_uri, $a_uri)) {
            my ($r, $c) = $self->wrk($uri, %opt);
            push @{ $rps{$uri} }, $r;
            push @{ $cpu{$uri} }, $c;
        }
    }
    my ($a, $b) = (median(@{ $rps{$a_uri} }), median(@{ $rps{$b_uri} }));
    printf "%-34s %8.1f req/s vs %8.1f req/s   ratio %s\n",
           $label, $b, $a, paired($rps{$a_uri}, $rps{$b_uri});
    ($a, $b) = (median(@{ $cpu{$a_uri} }), median(@{ $cpu{$b_uri} }));
    printf "%-34s %8.1f us/req vs %7.1f us/req   ratio %.3f\n",
           '  nginx worker CPU per request', $b, $a, $a / $b;
}

# A against several Bs in the same rounds: A, B1 .. Bn, then Bn .. B1, A,
# so each keeps its mirror position and A's runs are shared; prints each
# B against A as compare() does and returns the median req/s of every uri,
# for ratios between the Bs themselves
sub compare_set {
    my ($self, $a_uri, $bs, %opt) = @_;
    my (%rps, %cpu);
    my @uris = ($a_uri, map { $_->[1] } @$bs);
    $self->wrk($a_uri, %opt);               # warm up
    for my $round (1 .. $self->{rounds}) {
        for my $uri ($round % 2 ? @uris : reverse @uris) {
            my ($r, $c) = $self->wrk($uri, %opt);
            push @{ $rps{$uri} }, $r;
            push @{ $cpu{$uri} }, $c;
        }
    }
    my %m = map { $_ => median(@{ $rps{$_} }) } @uris;
    my $ca = median(@{ $cpu{$a_uri} });
    for my $b (@$bs) {
        my ($label, $uri) = @$b;
        my $cb = median(@{ $cpu{$uri} });
        printf "%-34s %8.1f req/s vs %8.1f req/s   ratio %s, "
               . "CPU %.1f vs %.1f us/req\n",
               $label, $m{$uri}, $m{$a_uri},
               paired($rps{$a_uri}, $rps{$uri}), $cb, $ca;
    }
    $self->{rounds_rps} = \%rps;
    return \%m;
}

# wrk --latency for A against several Bs in the same rounds (order as in
# compare_set): medians of each B's p50 and p99 next to A's, and what it
# adds at the 99th percentile
sub latency_set {
    my ($self, $a_uri, $bs, %opt) = @_;
    my %p;
    my $conns = $opt{conns} // $self->{conns};
    my $args = $opt{script} ? "-s $opt{script}" : '';
    my @uris = ($a_uri, map { $_->[1] } @$bs);
    for my $round (1 .. $self->{rounds}) {
        for my $uri ($round % 2 ? @uris : reverse @uris) {
            my $out = `taskset -c 0 wrk -t1 -c$conns -d$self->{secs}s --latency $args http://127.0.0.1:${\ $self->port}$uri 2>&1`;
            for my $q (50, 99) {
                my ($v, $unit) = $out =~ /^\s+$q%\s+([\d.]+)(us|ms|s)\s*$/m
                    or die "wrk --latency: no p$q:\n$out";
                push @{ $p{$uri}{$q} },
                     $v * { us => 1, ms => 1e3, s => 1e6 }->{$unit};
            }
        }
    }
    my %m = map { my $u = $_; $u => { map { $_ => median(@{ $p{$u}{$_} }) }
                                      (50, 99) } } @uris;
    for my $b (@$bs) {
        my ($label, $uri) = @$b;
        printf "%-34s p50 %7.1f us vs %7.1f us, p99 %7.1f us vs %7.1f us: "
               . "adds %.1f us at p99\n", $label,
               $m{$uri}{50}, $m{$a_uri}{50}, $m{$uri}{99}, $m{$a_uri}{99},
               $m{$uri}{99} - $m{$a_uri}{99};
    }
    return \%m;
}

sub header {
    my ($self, $what) = @_;
    printf "# %s: %d rounds of %ds, %d connections, ABBA order\n",
           $what, $self->{rounds}, $self->{secs}, $self->{conns};
}

# Userland instructions per request of nginx under callgrind, for each
# uri: $send->($port, $uri) makes one request and says whether it went as
# expected.  Runs of n and of 2n requests: their difference over n is the
# cost of a request alone, without start-up (regex compiling and such).
# Returns { uri => instructions per request }.
sub callgrind {
    my ($self, $n, $send, @uris) = @_;
    return undef if system('valgrind --version >/dev/null 2>&1');
    my %ir;
    for my $uri (@uris) {
        my @total;
        for my $count ($n, 2 * $n) {
            # once again if valgrind left no count (a busy machine)
            my $total = $self->_callgrind_run($count, $send, $uri)
                        // $self->_callgrind_run($count, $send, $uri);
            push @total, $total;
        }
        # no figure rather than a wrong one
        $ir{$uri} = (grep { !defined } @total) ? undef
                    : ($total[1] - $total[0]) / $n;
    }
    return \%ir;
}

sub _callgrind_run {
    my ($self, $count, $send, $uri) = @_;
    my $cg = PETest->new;
    $self->{setup}->($cg) if $self->{setup};
    my $conf = $cg->write_file('nginx.conf', $cg->nginx_conf(
        $self->{http}, master_process => 'off'));
    my $pid = $cg->spawn('valgrind', 'valgrind', '--tool=callgrind',
        '--callgrind-out-file=' . $cg->dir . '/cg.out',
        $PETest::NGINX, '-p', $cg->dir . '/', '-c', $conf,
        '-e', $cg->dir . '/error.log');
    wait_port($cg->port, 30) or die 'nginx under valgrind: no start';
    for (1 .. $count) {
        $send->($cg->port, $uri) or die "callgrind run of $uri failed";
    }
    $cg->stop_pid($pid, 'QUIT', 60);
    # BENCH_KEEP_CALLGRIND=1: /tmp/pe-callgrind_URI.out for a look
    system('cp', $cg->dir . '/cg.out',
           '/tmp/pe-callgrind' . ($uri =~ s{\W+}{_}gr) . '.out')
        if $ENV{BENCH_KEEP_CALLGRIND};
    my $log = $cg->read_file('valgrind.log') // '';
    my ($total) = $log =~ /Collected : (\d+)/;
    warn "callgrind of $uri ($count requests) left no count: "
         . (($log =~ /([^\n]+)\n*\z/)[0] // 'no log') . "\n"
        unless defined $total;
    return $total;
}

# a setup for new(): a small static file, www/index.html, about 600 bytes
sub static_site {
    my ($t) = @_;
    mkdir $t->dir . '/www';
    chmod 0755, $t->dir . '/www';
    $t->write_file('www/index.html', '<!DOCTYPE html><title>ok</title>'
                   . ('<p>privacy-edge</p>' x 30));
}

sub callgrind_row {
    my ($label, $base, $with) = @_;
    return printf "%-34s no figure: valgrind left no count\n", $label
        unless defined $base && defined $with;
    printf "%-34s %7.1fk instr/req vs %6.1fk   ratio %.3f, "
           . "the module adds %.1fk\n",
           $label, $with / 1e3, $base / 1e3, $base / $with,
           ($with - $base) / 1e3;
}

1;
