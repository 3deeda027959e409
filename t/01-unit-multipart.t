#!/usr/bin/perl
# The pure-C unit tests of the multipart parser (t/unit/test_multipart.c), built with
# ASan and UBSan by make; their TAP goes straight to prove.
use strict;
use warnings;
my $bin = "build/t/test_multipart";
if (!-x $bin) {
    print "1..1\nnot ok 1 - $bin is not built (make unit)\n";
    exit 1;
}
exec($bin) or die "$bin: $!";
