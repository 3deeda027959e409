#!/usr/bin/perl

# The documentation's nginx examples are configurations that work: each
# is taken out of README.md and docs/*.md, its paths pointed at this
# repository (conf/, a test key), TLS and the upstream made local, and run
# through nginx -t.  The worked example of a Cloudflare-fronted site
# (docs/operations.md) is then run, and what the text says of it is
# checked sentence by sentence.  Last, the README's text-only and
# two-frame jobs are run with curl, as written, against the shipped
# conf/nginx.conf and conf/backend.conf made local as scripts/run.sh
# makes them: each is accepted, and reaches its stand-in in its shape.

use strict;
use warnings;

use Test::More;
use JSON::PP;
use MIME::Base64 qw(encode_base64);
use Time::HiRes qw(sleep);

use lib 't/lib';
use PETest;
use PEShipped;

my $t = PETest->new;
my $top = $PETest::TOP;
$t->write_file('privacy.key', 'k' x 32);

my $readme = '';
for my $doc ("$top/README.md", sort glob("$top/docs/*.md")) {
    open(my $fh, '<', $doc) or die "$doc: $!";
    $readme .= do { local $/; <$fh> };
    close $fh;
}

my @blocks = grep { /^http \{$/m } $readme =~ /```nginx\n(.*?)```/sg;
ok(@blocks >= 2, 'the documentation has nginx examples with an http block');

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

my ($worked) = grep { /privacy_consent_cookie __gpp gpp/ } @blocks;
ok($worked, 'the worked example is there') or done_testing(), exit;
my ($http) = $worked =~ /^http \{\n(.*)^\}/ms;
$http =~ s{/etc/privacy-edge/cdn/}{$top/conf/cdn/}g;
$http =~ s{/etc/privacy-edge/cookies\.conf}{$top/conf/cookies.conf}g;
$http =~ s{/etc/privacy-edge/privacy\.key}{%%DIR%%/privacy.key}g;
$http =~ s{/var/log/nginx/}{%%DIR%%/logs/}g;
$http =~ s{log_format privacy }{log_format readme }g;
$http =~ s{(access_log \S+) privacy;}{$1 readme;}g;
# loopback stands in for Cloudflare's network, the app and backend for a
# recording upstream
$http =~ s{listen \d+( ssl)?;}
          {listen 127.0.0.1:%%PORT%%;\n        privacy_region_trust 127.0.0.0/8;}g;
$http =~ s{http://app;|http://127\.0\.0\.1:9000;}
          {http://127.0.0.1:%%PORT_up_app%%;}g;
$t->upstream('app', headers => "Set-Cookie: _ga=GA1.1.1; Path=/\r\n"
                               . "Set-Cookie: session=s1; Path=/\r\n");
$t->nginx_start($http);
my $port = $t->port;

my $video = sample('mp4', 4096);
my $upload = multipart_body('B0', ['prompt', undef, undef, 'a dance'],
                            ['file', 'clip.mp4', 'video/mp4', $video]);
my %mp = ('Content-Type' => 'multipart/form-data; boundary=B0');
my $tc_all = 'CQujIwAQujIwAAKABAENBkEgAP_AAAAAAAYgF5wAoAAgAEAvMAAAAAAA';

sub consent_logged {
    my ($uri) = @_;
    for (1 .. 40) {
        my $log = $t->read_file('logs/access.log') // '';
        return $1 if $log =~ m{"GET \Q$uri\E [^"]*" \d+ .*consent=(\S*)};
        select(undef, undef, undef, 0.05);
    }
    return undef;
}

# "A visitor from Germany without consent gets only necessary cookies
# through, in both directions."
my $mark = $t->upstream_mark('app');
my $r = http_get($port, '/page-de', 'CF-IPCountry' => 'DE',
                 Cookie => '_ga=GA1.1.2; session=s0');
my ($seen) = $t->upstream_since($mark, 'app');
like($seen->{head}, qr/^cookie: session=s0\r?$/mi,
     'Germany, no consent: only the necessary cookie reaches the app');
is($r->{headers}{'set-cookie'}, 'session=s1; Path=/',
   '... and only the necessary Set-Cookie reaches the visitor');

# "A POST /v1/jobs from them is refused 403 consent_required before a
# byte of the video is read."
$mark = $t->upstream_mark('app');
$r = http_post($port, '/v1/jobs', $upload, %mp, 'CF-IPCountry' => 'DE');
is($r->{status}, 403, 'Germany, no consent: the upload is refused 403');
like($r->{body}, qr/"error":"consent_required"/, '... consent_required');
my @none = $t->upstream_since($mark, 'app');
is(scalar @none, 0, '... and the backend saw nothing of it');

# "A visitor from California with Sec-GPC: 1 has every built-in category
# but marketing, and no ai_processing: their upload is refused too"
http_get($port, '/page-ca', 'CF-IPCountry' => 'US', 'CF-Region-Code' => 'CA',
         'Sec-GPC' => '1');
is(consent_logged('/page-ca'), 'necessary,preferences,analytics',
   'California with GPC: every built-in category but marketing');
$r = http_post($port, '/v1/jobs', $upload, %mp, 'CF-IPCountry' => 'US',
               'CF-Region-Code' => 'CA', 'Sec-GPC' => '1');
is($r->{status}, 403, '... and no upload without the opt-in');

# "until they tick the site's opt-in"
$r = http_post($port, '/v1/jobs', $upload, %mp, 'CF-IPCountry' => 'US',
               'CF-Region-Code' => 'CA', 'Sec-GPC' => '1',
               Cookie => 'pe_consent=ai_processing:1');
is($r->{status}, 200, '... with it, the upload goes through');

# "A German visitor who accepted all in the TCF banner and ticked the
# opt-in has all five, and uploads."
http_get($port, '/page-de-all', 'CF-IPCountry' => 'DE',
         Cookie => "euconsent-v2=$tc_all; pe_consent=ai_processing:1");
is(consent_logged('/page-de-all'),
   'necessary,preferences,analytics,marketing,ai_processing',
   'Germany, TCF accept-all and the opt-in: all five');
$mark = $t->upstream_mark('app');
$r = http_post($port, '/v1/jobs', $upload, %mp, 'CF-IPCountry' => 'DE',
               Cookie => "euconsent-v2=$tc_all; pe_consent=ai_processing:1");
is($r->{status}, 200, '... and the upload goes through');
my @taken = $t->upstream_since($mark, 'app');
is(scalar @taken, 1, '... to the backend');

$t->nginx_stop;

# --- the README's jobs for make run -------------------------------------------

my ($jobs) = grep { /model=seedance-/ && /model=veo-/ }
             $readme =~ /```sh\n(.*?)```/sg;
ok($jobs, 'the README has the text-only and two-frame jobs')
    or done_testing(), exit;
my ($mkcat) = $readme =~ /^\$ (echo .*> cat\.png.*)$/m;
ok($mkcat, '... and makes the cat.png they use') or done_testing(), exit;

# the shipped conf/backend.conf and conf/nginx.conf made local as
# scripts/run.sh makes them, the stand-ins of Veo and Seedance behind
# them, the providers not asked for here pointed at a port nothing listens
# on (t/lib/PEShipped.pm)
my $S = PEShipped->new(providers => [qw(seedance veo)],
                       public_url => 'backend');
my $m = $S->t;
my $md = $m->dir;
mkdir "$md/cwd";
my $bpid = $S->bpid;
my $eport = $S->eport;

# each command as written, the edge's address moved to the test's port;
# curl adds the status after the body
my @cmds;
for (split /\n(?=\$ )/, $jobs) {
    my ($cmd) = /^\$ (.*?)(?:\n(?!\s)|\z)/s or next;
    my ($shown) = /^(\{.*\})$/m;
    push @cmds, [$cmd, $shown];
}
sub shell {
    my ($cmd) = @_;
    $cmd =~ s{http://127\.0\.0\.1:8080}{http://127.0.0.1:$eport}g;
    $cmd =~ s{^curl }{curl -w '\\n%{http_code}' };
    open(my $sh, '-|', 'bash', '-c', "cd $md/cwd && $cmd") or die "bash: $!";
    my $out = do { local $/; <$sh> };
    close $sh;
    return $out;
}
shell($mkcat);

my @ids;
for my $c (@cmds) {
    my ($cmd, $shown) = @$c;
    my $out = shell($cmd);
    next unless $cmd =~ /^curl /;
    my ($model) = $cmd =~ /model=(\S+)/;
    my ($body, $status) = $out =~ /^(.*)\n(\d+)$/s;
    is($status, 202, "README's $model job: 202") or diag($out);
    my $got = eval { decode_json($body // '') } // {};
    is($got->{status}, 'queued', '... queued');
    like($shown // '', qr/^\{"id":"[0-9a-f]{32}","status":"queued"\}$/,
         '... as the README shows');
    push @ids, $got->{id} if $got->{id};
}
is(scalar @ids, 2, 'both jobs ran');

# what reached the stand-ins, once the backend has sent it
sub taken {
    my ($name) = @_;
    for (1 .. 200) {
        my @j = values %{ $m->standin_jobs($name) };
        return @j if @j;
        sleep 0.05;
    }
    return ();
}
my ($seed) = taken('seedance');
is_deeply($seed->{request}{content},
          [{ type => 'text', text => 'a cat surfing at dusk' }],
          'Seedance got the text-only job: its content the prompt alone');
is($seed->{request}{model}, 'seedance-1-0-pro-250528', '... for its model');

my ($veo) = taken('veo');
my $inst = $veo->{request}{instances}[0] // {};
is($inst->{prompt}, 'the cat lands the wave', 'Veo got the two-frame job');
for ([image => 'cat.png'], [lastFrame => 'end.png']) {
    my ($field, $file) = @$_;
    is_deeply($inst->{$field},
              { bytesBase64Encoded =>
                    encode_base64($m->read_file("cwd/$file"), ''),
                mimeType => 'image/png' },
              "... its $field $file, byte for byte");
}

$m->nginx_stop;
is($m->stop_pid($bpid, 'TERM') >> 8, 0, 'the backend exits cleanly');
unlike($m->read_file('backend.log') // '', qr/Sanitizer|runtime error:/,
       '... with no sanitizer report');

done_testing();
