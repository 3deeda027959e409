#!/usr/bin/perl

# privacy_status: decisions by reason and region group, counted in shared
# memory so that every worker adds to the same numbers; JSON, and
# Prometheus text with ?format=prometheus.  And bad arguments to the
# consent and region directives fail nginx -t, naming directive and value.

use strict;
use warnings;

use Test::More;
use JSON::PP qw(decode_json);

use lib 't/lib';
use PETest;

my $t = PETest->new;

$t->nginx_start(<<'EOF', workers => 2);
    privacy_consent_category ai_processing explicit;

    server {
        listen 127.0.0.1:%%PORT%%;

        privacy_region $http_cf_ipcountry;
        privacy_region_policy eea opt-in;
        privacy_region_policy KP block;
        privacy_region_policy default opt-out;

        # not "return": it answers in the rewrite phase, before any
        # decision is made
        location /jobs {
            privacy_require ai_processing;
            privacy_upload_max_size 10;
            proxy_pass http://127.0.0.1:%%PORT%%/sink;
        }

        location /upload {
            privacy_upload_max_size 10;
            proxy_pass http://127.0.0.1:%%PORT%%/sink;
        }

        location /sink {
            return 204;
        }

        location /page {
            proxy_pass http://127.0.0.1:%%PORT%%/sink;
        }
    }

    # a server of its own, without privacy_region: reading the counters
    # is not itself counted, so they can be read until they settle
    server {
        listen 127.0.0.1:%%PORT_status%%;

        location = /status {
            privacy_status;
        }
    }
EOF

my $port = $t->port;
my $sport = $t->port('status');

# 40 requests over new connections: both workers take some
for (1 .. 20) {
    http_get($port, '/page', 'CF-IPCountry' => 'DE');
}
for (1 .. 10) {
    http_get($port, '/page', 'CF-IPCountry' => 'JP');
}
for (1 .. 5) {
    http_get($port, '/page', 'CF-IPCountry' => 'KP');
}
for (1 .. 3) {
    http_post($port, '/upload', 'x' x 100);
}
http_post($port, '/jobs', 'x', 'CF-IPCountry' => 'FR');
http_get($port, '/page', 'CF-IPCountry' => 'XX');

my $r = status_settled($sport, '/status');
is($r->{status}, 200, 'GET /status');
is($r->{headers}{'content-type'}, 'application/json', 'JSON');
my $s = eval { decode_json($r->{body}) };
ok($s, 'it parses') or diag($r->{body});

is($s->{decisions}{allow}{eea}, 20, '20 allowed in eea');
is($s->{decisions}{allow}{none}, 10, '10 allowed in no group (JP)');
is($s->{decisions}{region_blocked}{none}, 5, '5 blocked (KP, no group)');
is($s->{decisions}{upload_too_large}{total}, 3, '3 uploads too large');
is($s->{decisions}{consent_required}{eea}, 1,
   '1 refused for consent in eea (privacy_require runs first)');
is($s->{decisions}{allow}{unknown}, 1, '1 allowed from an unknown region');
is($s->{decisions}{allow}{total}, 31, 'allow total 31');

$r = http_get($sport, '/status?format=prometheus');
like($r->{headers}{'content-type'}, qr{^text/plain; version=0\.0\.4},
     'Prometheus text');
like($r->{body}, qr/^# TYPE privacy_decisions_total counter$/m, 'its TYPE');
like($r->{body},
     qr/^privacy_decisions_total\{reason="allow",group="eea"\} 20$/m,
     'the eea allow counter');
like($r->{body},
     qr/^privacy_decisions_total\{reason="region_blocked",group="none"\} 5$/m,
     'the blocked counter');

is(http_post($sport, '/status', 'x')->{status}, 405, 'POST /status: 405');

# the error log names the workers: both did some of the work
$t->nginx_stop;
my %pids = map { $_ => 1 } $t->error_log =~ /\[info\] (\d+)#\d+: \*\d+ privacy: refused/g;
ok(scalar(keys %pids) >= 1, 'refusals were logged by the workers');

# configuration errors
my @bad = (
    ['privacy_region_policy mars opt-in;', qr/unknown region group "mars"/,
     'an undefined group'],
    ['privacy_region_policy DE maybe;',
     qr/invalid policy "maybe" in "privacy_region_policy"/, 'a bad policy'],
    ['privacy_region_policy DE opt-in gcp;',
     qr/invalid parameter "gcp" in "privacy_region_policy"/, 'a misspelt gpc'],
    ['privacy_region_policy de opt-in;',
     qr/unknown region group "de"/, 'a lower-case country is a group name'],
    ['privacy_region_policy US-XYZW opt-in;',
     qr/invalid region "US-XYZW"/, 'a bad subdivision'],
    ['privacy_region_policy DE opt-in; privacy_region_policy DE opt-out;',
     qr/duplicate region "DE" in "privacy_region_policy"/, 'a duplicate'],
    ['privacy_region_group eea DE FRA;',
     qr/invalid region "FRA" in "privacy_region_group"/, 'a 3-letter code'],
    ['privacy_region_group default DE;',
     qr/invalid group name "default"/, 'a group named default'],
    ['privacy_region_trust 10.0.0.0/33;',
     qr/invalid network "10\.0\.0\.0\/33" in "privacy_region_trust"/,
     'a bad network'],
    ['privacy_consent_cookie euconsent-v2 tcf3;',
     qr/invalid format "tcf3" in "privacy_consent_cookie"/, 'a bad format'],
    ['privacy_consent_cookie euconsent-v2 tcf sid=__gpp_sid;',
     qr/invalid parameter "sid=__gpp_sid" in "privacy_consent_cookie" directive \(only "gpp" takes "sid="\)/,
     'sid= on a format other than gpp'],
    ['privacy_consent_cookie __gpp gpp sid=;',
     qr/invalid cookie name "" in "privacy_consent_cookie"/,
     'an empty sid= cookie name'],
    ['privacy_consent_category ai_processing explicitly;',
     qr/invalid parameter "explicitly" in "privacy_consent_category" directive, expected "explicit"/,
     'a misspelt explicit'],
    ['privacy_consent_category AI;',
     qr/invalid category "AI" in "privacy_consent_category"/,
     'an upper-case category'],
    ['privacy_consent_category analytics;',
     qr/duplicate category "analytics"/, 'a built-in category again'],
    ['privacy_cookie_class stats ^_ga;',
     qr/unknown category "stats" in "privacy_cookie_class"/,
     'an unknown category'],
    ['privacy_cookie_class analytics "^_ga(";',
     qr/invalid pattern "\^_ga\(" in "privacy_cookie_class"/,
     'a bad regular expression'],
    ['server { location / { privacy_require ai; } }',
     qr/unknown category "ai" in "privacy_require"/, 'require unknown'],
    ['server { location / { privacy_require analytics status=200; } }',
     qr/invalid status "200" in "privacy_require"/, 'a 200 refusal'],
    ['privacy_require analytics;',
     qr/"privacy_require" directive is not allowed here/,
     'privacy_require at http level'],
);

for my $b (@bad) {
    $t->conf_fails($b->[0], $b->[1], $b->[2]);
}

done_testing();
