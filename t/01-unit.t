#!/usr/bin/perl

# The pure-C unit tests (t/unit/test_*.c), built with ASan and UBSan by
# make: each binary's TAP is replayed here as a subtest, so every one of
# its assertions counts, and a crash or a sanitizer report fails it.

use strict;
use warnings;

use Test::More;

my @sources = glob('t/unit/test_*.c');
ok(scalar @sources, 'there are unit tests');

for my $src (@sources) {
    (my $name = $src) =~ s{^t/unit/(test_\w+)\.c$}{$1};
    my $bin = "build/t/$name";

    subtest $name => sub {
        ok(-x $bin, "$bin is built (make unit)") or return;
        my @out = `$bin 2>&1`;
        my $rc = $? >> 8;
        my $signal = $? & 127;
        my ($plan) = map { /^1\.\.(\d+)/ ? $1 : () } @out;
        my $seen = 0;
        for my $line (@out) {
            if ($line =~ /^(not )?ok \d+ - (.*)$/) {
                $seen++;
                ok(!defined $1, $2);
            } elsif ($line =~ /^#/) {
                diag($line);
            } elsif ($line !~ /^1\.\./) {
                diag($line);        # sanitizer reports and the like
            }
        }
        is($seen, $plan, "all $seen planned assertions ran");
        is($signal, 0, 'no crash');
        is($rc, 0, 'exit status 0');
    };
}

done_testing();
