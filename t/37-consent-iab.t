#!/usr/bin/perl

# Consent decoding against the IAB's own reference libraries: expected
# values from code we did not write.
#
# t/iab/*.mjs make thousands of random TC strings with @iabtcf/core and GPP
# strings with @iabgpp/cmpapi (versions pinned in t/iab/package.json,
# installed by scripts/deps.sh), and say what each grants and refuses under
# the mapping docs/directives.md gives (privacy_consent_cookie), as the library
# DECODES the string it encoded.  Each goes through the real nginx over
# HTTP: from Germany (opt-in: granted is what the string grants) and from
# the US (opt-out: whatever the string does not express is granted, what it
# refuses is refused), a share of them beside a kv cookie naming
# ai_processing, an "explicit" category no TC or GPP string names, so never
# granted without it.  The IAB's published example strings go through the
# same way.
#
# A random seed each run, printed; PE_IAB_SEED=<seed> replays a run,
# PE_IAB_COUNT=<n> sets how many strings of each kind (default 3000).
#
# PE_IAB_LEGACY=1 measures a module from before gpp, explicit categories
# and per-category resolution (PE_MODULE=/path/to/old.so): TCF strings
# from Germany only, under a configuration it understands.

use strict;
use warnings;

use Test::More;
use IO::Select;
use IO::Socket::INET;
use File::Spec;
use JSON::PP;
use Time::HiRes qw(time);

use lib 't/lib';
use PETest;

my $T0 = time;
my $IAB = "$PETest::TOP/t/iab";
my $NODE = $ENV{PE_NODE} // 'node';
my $SEED = $ENV{PE_IAB_SEED} // int(rand(2**31));
my $COUNT = $ENV{PE_IAB_COUNT} // 3000;
my $LEGACY = $ENV{PE_IAB_LEGACY};
my $SHOW = 8;                   # disagreements shown in full, per part

my $t = PETest->new;

diag("seed $SEED (replay: PE_IAB_SEED=$SEED prove -I t/lib $0)");
srand($SEED);

###########################################################################
# the reference libraries: there, and the pinned versions.  No skip: a CI
# machine without them is a broken CI machine (scripts/deps.sh installs
# node, npm and the packages).

my $node_v = `$NODE --version 2>/dev/null` // '';
chomp $node_v;
my ($node_major) = $node_v =~ /^v(\d+)\./;
ok($node_major && $node_major >= 16, "node is installed ($node_v)")
    or do {
        diag("node (16 or later) is not on PATH: run scripts/deps.sh");
        done_testing();
        exit 1;
    };

my $pins = decode_json(slurp("$IAB/package.json"))->{dependencies};
my $missing = 0;
for my $pkg (sort keys %$pins) {
    my $have = eval {
        decode_json(slurp("$IAB/node_modules/$pkg/package.json"))->{version}
    } // 'none';
    is($have, $pins->{$pkg}, "$pkg $pins->{$pkg} is installed in t/iab")
        or $missing++;
}
if ($missing) {
    diag('the IAB libraries are missing: run scripts/deps.sh '
         . '(npm install in t/iab)');
    done_testing();
    exit 1;
}

###########################################################################
# the strings: both generators at once, and the published vectors

my %gen = (tcf => ['tcf.mjs', '--seed', $SEED, '--count', $COUNT],
           vectors => ['vectors.mjs']);
$gen{gpp} = ['gpp.mjs', '--seed', $SEED ^ 0x5bd1e995, '--count', $COUNT]
    unless $LEGACY;

my %pipe;
for my $k (sort keys %gen) {
    my ($script, @args) = @{ $gen{$k} };
    open($pipe{$k}, '-|', $NODE, "$IAB/$script", @args)
        or die "node $script: $!";
}
my %lines;
for my $k (sort keys %pipe) {
    my $fh = $pipe{$k};
    my @l = map { decode_json($_) } grep { /\S/ } <$fh>;
    ok(close($fh), "t/iab/$gen{$k}[0] ran") or diag("exit status $?");
    $lines{$k} = \@l;
}

my %summary;
for my $k (qw(tcf gpp)) {
    next unless $lines{$k};
    ($summary{$k}) = grep { $_->{summary} } @{ $lines{$k} };
    $lines{$k} = [grep { !$_->{summary} } @{ $lines{$k} }];
    is(scalar @{ $lines{$k} }, $COUNT, "$k: $COUNT strings, "
       . 'each decoded again by the library that made it');
}
is($summary{gpp}{libraries_disagree}, 0,
   'gpp: @iabtcf/core and @iabgpp/cmpapi read the embedded TC strings '
   . 'alike') if $summary{gpp};

# the strings cover what they are meant to (with enough of them)
if ($COUNT < 1000) {
    diag("coverage of the strings not checked: PE_IAB_COUNT below 1000");
} else {
    my @tc = @{ $lines{tcf} };
    my %n;
    $n{"vc $_->{vc}"}++, $n{"policy $_->{pv}"}++, $n{why}{$_->{why}}++
        for @tc;
    $n{pad8}++ for grep { ($_->{pad} // 0) > 7 } @tc;
    $n{segs}++ for grep { $_->{segs} > 1 } @tc;
    my $min = $COUNT / 50;
    ok(($n{'vc range'} // 0) > $min && ($n{'vc bitfield'} // 0) > $min
       && ($n{pad8} // 0) > $min && ($n{segs} // 0) > $min
       && (grep { ($n{"policy $_"} // 0) > $min } 2 .. 5) == 4
       && ($n{why}{counted} // 0) > $min,
       'tcf: range and bit field encodings, padding past a byte, several '
       . 'segments, policy versions 2 to 5, strings that count')
        or diag(explain(\%n));
    diag(sprintf('tcf: %d range / %d bit field vendor consents, %d with '
                 . 'more than 7 bits of padding, %d with several segments',
                 $n{'vc range'} // 0, $n{'vc bitfield'} // 0, $n{pad8} // 0,
                 $n{segs} // 0));
}
if ($summary{gpp} && $COUNT >= 1000) {
    my $seen = $summary{gpp}{sections_seen};
    my @absent = grep { !$seen->{$_} } 2, 5 .. 27;
    my %x;
    for my $g (@{ $lines{gpp} }) {
        $x{usnat1}++ if $g->{why} =~ /usnat v1/;
        $x{usnat2}++ if $g->{why} =~ /usnat v2/;
        $x{gpc}++ if $g->{why} =~ /\bGpc\b/;
        $x{embedded}++ if grep { /embedded/ } @{ $g->{extra} };
        $x{unknown}++ if grep { /unknown section/ } @{ $g->{extra} };
        $x{granting}++ if @{ $g->{granted} };
        $x{silent}++ if !@{ $g->{granted} } && !@{ $g->{refused} };
    }
    ok(!@absent && !(grep { !$x{$_} }
                     qw(usnat1 usnat2 gpc embedded unknown granting silent)),
       'gpp: every section 2, 5-27; usnat versions 1 and 2; GPC; embedded '
       . 'TC strings; unknown sections; strings that grant, and that say '
       . 'nothing') or diag("absent sections: @absent; " . explain(\%x));
}

###########################################################################
# nginx

my $conf = <<'NOW';
    privacy_consent_category ai_processing explicit;

    server {
        listen 127.0.0.1:%%PORT%%;
        keepalive_requests 1000000;

        privacy_region $http_cf_ipcountry;
        privacy_region_policy eea opt-in;
        privacy_region_policy default opt-out;

        privacy_consent_cookie euconsent-v2 tcf;
        privacy_consent_cookie __gpp gpp;
        privacy_consent_cookie pe_consent kv;

        location /consent {
            return 200 "$privacy_consent\n";
        }
    }
NOW

# a module from before gpp and explicit categories: what it understands
if ($LEGACY) {
    $conf =~ s/ explicit;/;/;
    $conf =~ s/^.*__gpp gpp;\n//m;
}

$t->nginx_start($conf);
my $port = $t->port;

###########################################################################
# what the module must answer (docs/directives.md, privacy_consent_cookie): each
# category is decided by the first cookie present, in configuration order,
# that expresses it; TCF expresses the four built-ins, GPP's US sections
# only marketing and only refusing, kv the categories it names.  What none
# expresses: granted in an opt-out region, unless explicit; refused in an
# opt-in one.

my @CATS = qw(necessary preferences analytics marketing ai_processing);
my %EXPLICIT = (ai_processing => 1);
my @ORDER = qw(euconsent-v2 __gpp pe_consent);

# kv cookies beside a TC or GPP string, and what they express
my @KV = (
    ['ai_processing:1', 6], ['ai_processing:0', 1],
    ['ai_processing:1,marketing:1', 1], ['ai_processing:yes,analytics:no', 1],
    ['marketing:0', 1], ['preferences:1,analytics:1,marketing:1', 1],
);

sub kv_says {
    my ($v) = @_;
    my %s;
    for (split /,/, $v) {
        my ($k, $a) = split /:/;
        $s{$k} = $a =~ /^(1|yes|true)$/ ? 1 : 0;
    }
    return \%s;
}

sub expected {
    my ($region, $cookies, $said) = @_;     # $said: cookie => {cat => 0|1}
    my %decided;
    for my $name (@ORDER) {
        next unless exists $cookies->{$name};
        for my $c (keys %{ $said->{$name} }) {
            $decided{$c} //= $said->{$name}{$c};
        }
    }
    return join ',', 'necessary', grep {
        defined $decided{$_} ? $decided{$_}
                             : ($region eq 'US' && !$EXPLICIT{$_})
    } @CATS[1 .. $#CATS];
}

# what a TC or GPP line says: {cat => 1 granted, 0 refused}
sub says {
    my ($line) = @_;
    return { (map { $_ => 1 } @{ $line->{granted} }),
             (map { $_ => 0 } @{ $line->{refused} }) };
}

sub request {
    my ($region, $cookie) = @_;
    return "GET /consent HTTP/1.1\r\nHost: localhost\r\n"
         . "CF-IPCountry: $region\r\nCookie: $cookie\r\n\r\n";
}

# many requests over one keep-alive connection, pipelined in batches;
# returns "status body" per request (undef where none came)
sub ask_all {
    my ($reqs) = @_;
    my @res;
    my ($s, $buf, $i, $stuck) = (undef, '', 0, 0);
    local $SIG{PIPE} = 'IGNORE';

    while ($i < @$reqs) {
        $s //= IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => $port, Proto => 'tcp')
            or die "connect $port: $!";
        my $end = $i + 100 <= @$reqs ? $i + 100 : scalar @$reqs;
        my $out = join '', @{$reqs}[$i .. $end - 1];
        while (length $out) {
            my $w = syswrite($s, $out);
            last unless $w;
            substr($out, 0, $w, '');
        }

        my ($got, $close) = (0, 0);
        my $sel = IO::Select->new($s);
        while ($i + $got < $end) {
            if ($buf =~ m{\AHTTP/1\.[01] (\d+)[^\r\n]*\r\n(.*?)\r\n\r\n}s) {
                my ($status, $head) = ($1, $2);
                my $hlen = $+[0];
                my ($cl) = $head =~ /^Content-Length:\s*(\d+)/mi;
                $cl //= 0;
                if (length($buf) >= $hlen + $cl) {
                    push @res, "$status " . substr($buf, $hlen, $cl);
                    substr($buf, 0, $hlen + $cl, '');
                    $got++;
                    $close = 1 if $head =~ /^Connection:\s*close/mi;
                    last if $close;
                    next;
                }
            }
            last unless $sel->can_read(10);
            last unless sysread($s, $buf, 65536, length $buf);
        }

        $i += $got;
        if ($close || $i < $end) {
            close $s;
            ($s, $buf) = (undef, '');
        }
        # a request that gets no answer twice running: record and go on
        if ($got == 0 && ++$stuck >= 2) {
            push @res, undef;
            $i++;
            $stuck = 0;
        } elsif ($got) {
            $stuck = 0;
        }
    }
    close $s if $s;
    return \@res;
}

# every case: the request, and what must come back
sub check {
    my ($part, $cases) = @_;
    my $t0 = time;
    my $res = ask_all([map { $_->{req} } @$cases]);
    my %n = (requests => scalar @$cases);
    my (@show, @all, %pattern);
    for my $k (0 .. $#$cases) {
        my $c = $cases->[$k];
        my $got = $res->[$k];
        $got = defined $got && $got =~ /^200 (.*)\n\z/s ? $1
             : 'no answer: ' . ($got // 'none');
        next if $got eq $c->{want};
        $n{disagree}++;
        my %want = map { $_ => 1 } split /,/, $c->{want};
        my %have = map { $_ => 1 } split /,/, $got;
        my @over = grep { !$want{$_} } sort keys %have;
        my @under = grep { !$have{$_} } sort keys %want;
        $n{over}++ if @over;
        $n{over_ai}++ if grep { $_ eq 'ai_processing' } @over;
        my $kv = $c->{cookie} =~ /pe_consent=([^;]*)/ ? " kv $1" : '';
        $pattern{"from $c->{region}$kv: "
                 . join(' ', (map { "+$_" } @over), (map { "-$_" } @under))
                }++;
        push @all, { region => $c->{region}, cookie => $c->{cookie},
                     got => $got, expected => $c->{want},
                     library => $c->{why} };
        push @show, "$c->{region} $c->{cookie}\n    got      $got\n"
                    . "    expected $c->{want}\n    (library: $c->{why})"
            if @show < $SHOW;
    }
    diag(sprintf("%s: %d requests in %.1f s, %d disagreements, "
                 . "%d over-grants (%d of ai_processing)", $part,
                 $n{requests}, time - $t0, $n{disagree} // 0, $n{over} // 0,
                 $n{over_ai} // 0));
    if (@all) {
        # every one of them, for whoever looks into it
        my $file = File::Spec->catfile(File::Spec->tmpdir,
                                       "pe-iab-$SEED-$part.jsonl");
        open(my $fh, '>', $file) or die "$file: $!";
        print $fh JSON::PP->new->canonical->encode($_), "\n" for @all;
        close $fh;
        my @p = sort { $pattern{$b} <=> $pattern{$a} || $a cmp $b }
                keys %pattern;
        diag("$part: the disagreements by kind (+ granted, - not granted, "
             . "against the library):\n"
             . join('', map { sprintf("  %5d  %s\n", $pattern{$_}, $_) }
                        @p[0 .. ($#p < 14 ? $#p : 14)])
             . "  all of them: $file");
    }
    return (\%n, \@show, $res);
}

sub report {
    my ($part, $n, $show) = @_;
    my $fail = sub { diag("seed $SEED; first disagreements:\n  "
                          . join("\n  ", @$show)) if @$show };
    is($n->{over_ai} // 0, 0, "$part: ai_processing is never granted "
       . 'without the kv cookie') or $fail->() unless $LEGACY;
    is($n->{over} // 0, 0, "$part: the module grants nothing the IAB "
       . 'library does not') or $fail->();
    is($n->{disagree} // 0, 0, "$part: the module agrees with the IAB "
       . "library on all $n->{requests} requests") or $fail->();
}

# what the library made of a line, for a human
sub why {
    my ($l) = @_;
    my @w = ($l->{why});
    if (defined $l->{pv}) {                             # a TC string
        push @w, "policy $l->{pv}", "purposes [@{ $l->{purposes} }]",
                 "vendor consents as a $l->{vc}",
                 "$l->{pad} bits of padding", "$l->{segs} segment(s)";
    }
    return join '; ', @w, @{ $l->{extra} // [] };
}

# the cases for lines of one kind: each from DE and from the US, and a
# quarter again beside a kv cookie
sub cases {
    my ($cookie, $lines) = @_;
    my @cases;
    for my $l (@$lines) {
        my %said = ($cookie => says($l));
        my @jars = ({ $cookie => $l->{s} });
        if (!$LEGACY && rand() < 0.25) {
            my $total = 0;
            $total += $_->[1] for @KV;
            my $x = rand($total);
            my ($kv) = grep { ($x -= $_->[1]) < 0 } @KV;
            $said{pe_consent} = kv_says($kv->[0]);
            push @jars, { $cookie => $l->{s}, pe_consent => $kv->[0] };
        }
        for my $jar (@jars) {
            # the header's order is not the configuration's
            my @names = sort keys %$jar;
            @names = reverse @names if rand() < 0.5;
            my $hdr = join '; ', map { "$_=$jar->{$_}" } @names;
            for my $region ($LEGACY ? ('DE') : ('DE', 'US')) {
                push @cases, {
                    req => request($region, $hdr), region => $region,
                    cookie => $hdr,
                    why => why($l),
                    want => expected($region, $jar, \%said),
                    line => $l,
                };
            }
        }
    }
    return \@cases;
}

###########################################################################
# TCF

my $tcf_cases = cases('euconsent-v2', $lines{tcf});
my ($n, $show, $res) = check('tcf', $tcf_cases);
report('tcf', $n, $show);

# the figure for old modules: strings that grant something, read as
# "necessary" only (Germany, no kv cookie)
{
    my ($granting, $necessary_only) = (0, 0);
    for my $k (0 .. $#$tcf_cases) {
        my $c = $tcf_cases->[$k];
        next unless $c->{region} eq 'DE' && $c->{cookie} !~ /pe_consent/;
        next unless @{ $c->{line}{granted} };
        $granting++;
        $necessary_only++ if ($res->[$k] // '') eq "200 necessary\n";
    }
    diag("tcf, from Germany: of $granting strings granting something, "
         . "$necessary_only read as \"necessary\" only");
}

###########################################################################
# GPP

unless ($LEGACY) {
    ($n, $show) = check('gpp', cases('__gpp', $lines{gpp}));
    report('gpp', $n, $show);
}

###########################################################################
# the IAB's published strings, one by one

for my $v (@{ $lines{vectors} }) {
    next if $LEGACY && $v->{kind} ne 'tcf';
    my $cookie = $v->{kind} eq 'tcf' ? 'euconsent-v2' : '__gpp';
    my $jar = { $cookie => $v->{s} };
    my $said = { $cookie => says($v) };
    for my $region ($LEGACY ? ('DE') : ('DE', 'US')) {
        my $r = ask_all([request($region, "$cookie=$v->{s}")])->[0] // '';
        $r =~ s/^200 (.*)\n\z/$1/s;
        is($r, expected($region, $jar, $said),
           "$v->{source}, from $region") or diag("($v->{why})\n$v->{s}");
    }
}

$t->nginx_stop;

diag(sprintf('%.1f s in all', time - $T0));

done_testing();

sub slurp {
    my ($f) = @_;
    open(my $fh, '<', $f) or die "$f: $!";
    local $/;
    return scalar <$fh>;
}
