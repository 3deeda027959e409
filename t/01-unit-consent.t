#!/usr/bin/perl
# The pure-C unit tests of the consent parsers (t/unit/test_consent.c),
# built with ASan and UBSan by make; their TAP goes straight to prove.
use strict;
use warnings;
my $bin = "build/t/test_consent";
if (!-x $bin) {
    print "1..1\nnot ok 1 - $bin is not built (make unit)\n";
    exit 1;
}
exec($bin) or die "$bin: $!";
