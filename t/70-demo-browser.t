#!/usr/bin/perl

# The demo site (conf/demo/) in a real browser: Debian's chromium,
# headless, driven over the DevTools protocol by t/browser/demo.mjs
# (playwright-core, pinned in t/browser/package.json, installed into
# build/browser by scripts/deps.sh; it downloads no browser).  In front
# of it the shipped stack on free ports (t/lib/PEShipped.pm): the real
# nginx with the module under the shipped conf/nginx.conf, with conf/demo/demo.conf (the demo's
# locations) included right after its listen as scripts/run.sh includes it
# (a copy in the test's prefix, its root moved to conf/demo/), a real
# redis-server, the real backend under the shipped conf/backend.conf, and
# the providers' stand-ins.
#
# The browser: the banner (nothing ticked, Tab order, reject as large as
# accept); the region switch (EEA, elsewhere, California without and with
# the demo's GPC switch, the UK with the browser's own Sec-GPC: what the
# edge grants in each, the analytics cookie set only where analytics is
# granted and removed where it no longer is); reject all by keyboard, then
# an upload refused for want of the opt-in, its reason shown; accept all
# with the AI opt-in, the analytics cookie now there; two jobs (the second
# from California through the GPC hop) followed to their output link; one
# deleted; a text file, a disguised file and a file over 10 MB refused
# with their reasons; uploads until the rate limit; the export downloaded
# as JSON holding the job; one's own choices (analytics withdrawn, its
# cookie gone); erasure emptying the list; the status page's charts.  A
# screenshot of each step in build/demo-screens/.  Nothing is requested
# from another origin, and no script or CSP error is logged.
#
# Then here: the demo's loopback-only locations refuse 127.0.0.2; the
# demo's two TC strings read back by the IAB's own library (t/iab); what
# the fal stand-in received is the prompt and the picture alone, byte for
# byte, and nothing of the visitor; the refused uploads reached no
# provider.
#
# Last, the shipped conf/nginx.conf alone serves no demo: its text has no
# demo location, and the same stack's nginx started again under it without
# the include answers 404 for the pages, /demo/ and /status/, while its
# own /healthz answers.

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(sha256_hex hmac_sha256);
use File::Path qw(make_path);
use JSON::PP;
use MIME::Base64 qw(decode_base64);
use Time::HiRes qw(time);

use lib 't/lib';
use PETest;
use PEShipped;

my $TOP = $PETest::TOP;
my $CHROMIUM = $ENV{PE_CHROMIUM} // '/usr/bin/chromium';
my $DRIVER = "$TOP/build/browser/node_modules/playwright-core/package.json";

plan(skip_all => "no chromium at $CHROMIUM (scripts/deps.sh installs it)")
    unless -x $CHROMIUM;
plan(skip_all => 'no node (scripts/deps.sh installs it)')
    unless system('node --version >/dev/null 2>&1') == 0;
# playwright-core runs on node 20 or later (Debian 12's own is 18)
my ($node_major) = `node --version` =~ /^v(\d+)/;
plan(skip_all => "node $node_major: the browser driver needs node 20 or "
                 . 'later') if ($node_major // 0) < 20;
plan(skip_all => 'no playwright-core in build/browser/node_modules '
     . '(scripts/deps.sh installs it)') unless -f $DRIVER;

my $started = time;

my $t = PETest->new;
my $d = $t->dir;

# the shipped conf/nginx.conf with the demo's snippet included right after
# its listen, as scripts/run.sh includes it: a copy of conf/demo/demo.conf
# in this test's prefix, its root moved to the source tree (PEShipped
# moves the rest)
my $DEMO_ROOT = '/usr/share/privacy-edge/demo';
my $demo = $t->read_file("$TOP/conf/demo/demo.conf")
    // die "conf/demo/demo.conf: $!";
$demo =~ s{root \Q$DEMO_ROOT\E;}{root $TOP/conf/demo;}g
    or die "conf/demo/demo.conf: no root $DEMO_ROOT any more";
my $DEMO_CONF = $t->write_file('demo.conf', $demo);
my $shipped = \&PETest::Nginx::shipped_http;
{
    no warnings 'redefine';
    *PETest::Nginx::shipped_http = sub {
        my $http = $shipped->(@_);
        $http =~ s{^(( *)listen 127\.0\.0\.1:%%PORT%%;\n)}
                  {$1$2include $DEMO_CONF;\n}m
            or die 'conf/nginx.conf: no listen line to include the demo after';
        return $http;
    };
}

my $S = PEShipped->new(t => $t, run => 0.6,
                       nginx => { workers => 2 });
my $EDGE = $S->edge;

# the README's picture: IHDR, PLTE, IDAT, IEND, nothing to strip
my $PNG = decode_base64('iVBORw0KGgoAAAANSUhEUgAAAAIAAAABAQMAAADO7O3JAAAAA1'
    . 'BMVEX/pQDKkkGbAAAACklEQVQI12NgAAAAAgAB4iG8MwAAAABJRU5ErkJggg==');
my $png = $t->write_file('cat.png', $PNG);

my $screens = "$TOP/build/demo-screens";
make_path($screens);
unlink glob("$screens/*.png"), "$screens/export.json";

# --- the browser -------------------------------------------------------------

my $node_rc;
my @lines = do {
    open(my $fh, '-|', 'node', "$TOP/t/browser/demo.mjs", '--base', $EDGE,
         '--png', $png, '--screens', $screens, '--chromium', $CHROMIUM)
        or die "node: $!";
    my @l = <$fh>;
    close $fh;
    $node_rc = $? >> 8;
    @l;
};
my @msgs = map { my $m = eval { decode_json($_) }; $m ? ($m) : () } @lines;
if (@msgs && defined $msgs[0]{skip}) {
    plan(skip_all => $msgs[0]{skip});
}
ok(scalar @msgs, 'the browser script ran') or diag(@lines);

my ($result, $checks) = (undef, 0);
for my $m (@msgs) {
    if (exists $m->{ok}) {
        $checks++;
        ok($m->{ok}, "browser: $m->{name}")
            or diag(explain($m->{detail}));
    } elsif ($m->{result}) {
        $result = $m->{result};
    }
}
# a script that died half-way must not pass on the checks it made
ok($result, 'the browser script went to its end') or diag(@lines);
cmp_ok($checks, '>=', 70, "... through every step ($checks checks)");
is($node_rc, $checks == grep({ $_->{ok} } grep { exists $_->{ok} } @msgs)
                 ? 0 : 1, '... and its exit status says the same');
$result //= {};
my $steps = () = glob("$screens/*.png");
cmp_ok($steps, '>=', 15, "a screenshot of each step in build/demo-screens "
       . "($steps)");

# --- the demo's locations, from elsewhere than 127.0.0.1 ---------------------

my $page = http_get($S->eport, '/');
is($page->{status}, 200, 'the demo page is served');
like($page->{raw}, qr/^Content-Security-Policy: default-src 'none'; /mi,
     '... with a policy that lets it load nothing from another origin');
for my $uri ('/status/', '/demo/visit-app', '/demo/gpc/v1/jobs') {
    my $r = http($S->eport, "GET $uri HTTP/1.1\r\nHost: localhost\r\n"
                 . "Connection: close\r\n\r\n", from => '127.0.0.2');
    is($r->{status}, 403, "$uri: 403 to any address but 127.0.0.1");
}

# --- the demo's TC strings, as the IAB's library reads them ------------------

my $js = $t->read_file("$TOP/conf/demo/demo.js") // die "demo.js: $!";
my ($accept) = $js =~ /TC_ACCEPT_ALL = '([\w-]+)'/;
my ($reject) = $js =~ /TC_REJECT_ALL = '([\w-]+)'/;
SKIP: {
    skip('no @iabtcf/core in t/iab/node_modules (scripts/deps.sh)', 4)
        unless -d "$TOP/t/iab/node_modules/\@iabtcf/core";
    my @tc = map { decode_json($_) }
             `node $TOP/t/browser/tcf-check.mjs $accept $reject`;
    is_deeply([@{ $tc[0] }{qw(granted refused version policy)},
               $tc[0]{serviceSpecific} ? 1 : 0, $tc[0]{vendors}],
              [[qw(preferences analytics marketing)], [], 2, 5, 1, 0],
              'the accept-all TC string: TCF v2, policy 5, service '
              . 'specific, every category, no vendor');
    is_deeply($tc[0]{purposes}, [1 .. 11], '... purposes 1 to 11');
    is_deeply([@{ $tc[1] }{qw(granted refused version policy)},
               $tc[1]{serviceSpecific} ? 1 : 0, $tc[1]{purposes}],
              [[], [qw(preferences analytics marketing)], 2, 5, 1, []],
              'the reject-all TC string: no purpose, every category refused');
    isnt($accept, $reject, '... two strings');
}

# --- what reached the providers -------------------------------------------

my $session = $result->{session} // 'no session';
my $sub = b64url(hmac_sha256($session, $PEShipped::PRIVACY_KEY));
my %P = %{ $result->{prompts} // {} };
my @all = $S->all_requests;
my $every = JSON::PP->new->canonical->encode(\@all);

for my $job (qw(job1 job2)) {
    my $prompt = $P{$job} // "no $job";
    my @sub = $S->submission('fal', $prompt, 5);
    is(scalar @sub, 1, "$job: one submission at fal, with the prompt")
        or next;
    my $req = $sub[0];
    my $body = eval { decode_json($req->{body}) } // {};
    is_deeply([sort keys %$body], [qw(image_url prompt)],
              "$job: the prompt and the picture, nothing else");
    is($body->{prompt}, $prompt, "$job: the prompt as typed");
    my ($type, $b64) = ($body->{image_url} // '')
        =~ m{^data:([^;,]+);base64,(.*)$}s;
    is($type, 'image/png', "$job: the picture as image/png");
    is(sha256_hex(decode_base64($b64 // '')), sha256_hex($PNG),
       "$job: byte for byte the picture uploaded");
    is_deeply([sort grep { $_ ne 'expect' } keys %{ $req->{headers} }],
              [sort qw(accept authorization content-length content-type
                       host user-agent x-fal-object-lifecycle-preference
                       x-fal-store-io)],
              "$job: no header but fal's own");
}

my @leak = grep { index($every, $_) >= 0 }
           ($session, $sub, 'pe_consent', 'euconsent', '_pk_demo',
            'HeadlessChrome', 'IMG_004', 'CQujIwA');
push @leak, 'Privacy-Context' if $every =~ /privacy-context/i;
push @leak, 'a JWS' if $every =~ /eyJ[\w-]+\.eyJ[\w-]+\.[\w-]{20,}/;
is_deeply(\@leak, [], 'no provider received the session, its pseudonym, '
          . 'a consent cookie, the browser, a filename or the context');
my @refused = grep { defined && index($every, $_) >= 0 }
              @P{qw(refused wrong disguised large)};
is_deeply(\@refused, [], 'the refused uploads reached no provider');
is(scalar(grep { ($_->{method} // '') eq 'POST'
                 && ($_->{body} // '') =~ /rate limit try/ } @all), 0,
   '... nor the uploads of the rate limit');

# the export, as the browser saved it
my $exp = $result->{export} // {};
my ($job1) = grep { ($_->{id} // '') eq ($result->{jobs}{job1} // '-') }
             @{ $exp->{jobs} // [] };
ok($job1, 'the export holds the job') or diag(explain($exp));
is($job1->{status}, 'succeeded', '... succeeded') if $job1;

my $secs = time - $started;
cmp_ok($secs, '<', 120, sprintf('the browser test took %.0f s', $secs));
diag(sprintf('demo browser test: %.1f s; screenshots in %s', $secs,
             $screens));

# the snippet beside the pages is not one of them
is(http_get($S->eport, '/demo.conf')->{status}, 404,
   'conf/demo/demo.conf is not served');

# the GPC hop is one hop: a path that would come back to it is refused
# at once, not proxied to itself until connections run out
# (the hop's lines only: the browser's page may still be fetching)
my $hop_lines = sub {
    return scalar grep { m{/demo/gpc} }
                  split /\n/, $t->read_file('shipped.log') // '';
};
for my $uri ('/demo/gpc/x%0Ay', '/demo/gpc/demo/gpc/demo/gpc/healthz') {
    my $before = $hop_lines->();
    is(http_get($S->eport, $uri)->{status}, 404, "$uri: 404");
    my $after = $hop_lines->();
    ok($after - $before <= 2, "... logged once or twice, not looped "
                              . '(' . ($after - $before) . ' lines)');
}
is(http_get($S->eport, '/demo/gpc/healthz')->{status}, 200,
   '... while one hop answers');
like(http_get($S->eport, '/status')->{headers}{location} // '', qr{^/status/$},
     'a redirect names no host (the client\'s Host is not echoed)');

# --- the shipped conf/nginx.conf alone: no demo at all ----------------------

my $conf = $t->read_file("$TOP/conf/nginx.conf") // die "conf/nginx.conf: $!";
my @in_conf = grep { !/^\s*#/
                     && m{location\s+/\s*\{|/demo\b|/status/|\bempty_gif\b} }
              split /\n/, $conf;
is_deeply(\@in_conf, [], 'conf/nginx.conf itself has no demo location')
    or diag(explain(\@in_conf));

# the same stack, its nginx started again under the shipped http{} block
# without the include
$t->nginx_stop;
$t->nginx_start($shipped->($t, redis => $S->rport, backend => $S->bport),
                workers => 2);
for my $uri ('/', '/index.html', '/demo.js', '/demo/decision', '/demo/visit',
             '/demo/visit-app', '/demo/gpc/healthz', '/demo/gpc/x',
             '/status/') {
    is(http_get($S->eport, $uri)->{status}, 404,
       "the shipped conf/nginx.conf alone: $uri is 404");
}
is(http_get($S->eport, '/healthz')->{status}, 200,
   '... while its own locations answer (/healthz)');

$S->stop;
done_testing();
