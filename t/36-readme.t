#!/usr/bin/perl

# The README's nginx examples are configurations that work: each is taken
# out of the README, its paths pointed at this repository (conf/, a test
# key), TLS and the upstream made local, and run through nginx -t.

use strict;
use warnings;

use Test::More;

use lib 't/lib';
use PETest;

my $t = PETest->new;
my $top = $PETest::TOP;
$t->write_file('privacy.key', 'k' x 32);

open(my $fh, '<', "$top/README.md") or die "README.md: $!";
my $readme = do { local $/; <$fh> };
close $fh;

my @blocks = grep { /^http \{$/m } $readme =~ /```nginx\n(.*?)```/sg;
ok(@blocks >= 2, 'the README has nginx examples with an http block');

for my $i (0 .. $#blocks) {
    my $conf = $blocks[$i];
    my ($http) = $conf =~ /^http \{\n(.*)^\}/ms;
    ok($http, "example $i has an http block") or next;

    $http =~ s{/etc/privacy-edge/cdn/}{$top/conf/cdn/}g;
    $http =~ s{/etc/privacy-edge/cookies\.conf}{$top/conf/cookies.conf}g;
    $http =~ s{/etc/privacy-edge/privacy\.key}{%%DIR%%/privacy.key}g;
    $http =~ s{/var/log/nginx/}{%%DIR%%/logs/}g;
    $http =~ s{listen \d+( ssl)?;}{listen 127.0.0.1:%%PORT%%;}g;
    $http =~ s{http://app;}{http://127.0.0.1:9;}g;
    # the harness has a log_format "privacy" of its own
    $http =~ s{log_format privacy }{log_format readme }g;
    $http =~ s{(access_log \S+) privacy;}{$1 readme;}g;

    my ($rc, $out) = $t->nginx_test_conf($http);
    is($rc, 0, "example $i passes nginx -t") or diag($out);
}

done_testing();
