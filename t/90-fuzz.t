#!/usr/bin/perl

# A short libFuzzer run of each parser and of the metadata stripper
# (FUZZ_SECONDS each, default 10), with ASan and UBSan, from the seed
# corpus in fuzz/corpus.  `make fuzz`
# runs them longer.  A crash, a sanitizer report or a broken oracle fails.

use strict;
use warnings;

use Test::More;
use File::Temp qw(tempdir);

my $secs = $ENV{FUZZ_SECONDS} || 10;
my @fuzzers = map { "build/fuzz/$_" } qw(fuzz_multipart fuzz_sniff
                                          fuzz_media_type fuzz_consent
                                          fuzz_region fuzz_gpp fuzz_strip);

for my $f (@fuzzers) {
    ok(-x $f, "$f is built") or next;
    (my $name = $f) =~ s{.*/}{};
    my $corpus = tempdir(CLEANUP => 1);
    my $art = tempdir(CLEANUP => 1);
    my $out = `$f -max_total_time=$secs -artifact_prefix=$art/ $corpus fuzz/corpus/$name 2>&1`;
    my $rc = $? >> 8;
    my ($runs) = $out =~ /Done (\d+) runs/;
    is($rc, 0, "$name: no crash in $secs s" . ($runs ? " ($runs inputs)" : ''))
        or diag(join("\n", grep { /ERROR|SUMMARY|==\d+==|artifact/ }
                               split /\n/, $out));
    ok(($runs // 0) > 1000, "$name: it really ran");
}

done_testing();
