#!/usr/bin/perl

# What ships in conf/ works: the CDN snippets and the cookie list pass
# nginx -t as they are, Akamai's EdgeScape header is taken apart right,
# and the default cookie classes put the common trackers where they
# belong.  Not here: conf/cdn/geoip2.conf needs the geoip2 module and a
# database to pass nginx -t; t/43-geoip2.t runs it with both.  What the
# CDN snippets trust, and the client address realip takes from each:
# t/44-cdn-trust.t.

use strict;
use warnings;

use Test::More;

use lib 't/lib';
use PETest;

my $t = PETest->new;
my $top = $PETest::TOP;

for my $cdn (qw(cloudflare cloudfront fastly akamai)) {
    my ($rc, $out) = $t->nginx_test_conf(
        "include $top/conf/cdn/$cdn.conf;\n"
        . 'server { listen 127.0.0.1:%%PORT%%; }');
    is($rc, 0, "conf/cdn/$cdn.conf passes nginx -t") or diag($out);
}

my ($rc, $out) = $t->nginx_test_conf("include $top/conf/cookies.conf;\n"
                                     . 'server { listen 127.0.0.1:%%PORT%%; }');
is($rc, 0, 'conf/cookies.conf passes nginx -t') or diag($out);

$t->upstream('app');
$t->nginx_start(<<"EOF");
    include $top/conf/cdn/akamai.conf;
    include $top/conf/cookies.conf;

    server {
        listen 127.0.0.1:%%PORT%%;

        privacy_region_policy default opt-in;
        privacy_cookie_filter on;

        location /region {
            return 200 "\$privacy_region\\n";
        }

        location / {
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }
    }
EOF

my $port = $t->port;

is(http_get($port, '/region', 'X-Akamai-Edgescape' =>
            'georegion=246,country_code=US,region_code=CA,city=SANJOSE,'
            . 'dma=807,continent=NA')->{body},
   "US-CA\n", 'Akamai EdgeScape: country_code and region_code');
is(http_get($port, '/region', 'X-Akamai-Edgescape' =>
            'georegion=1,country_code=DE,continent=EU')->{body},
   "DE\n", 'Akamai EdgeScape without a region_code');
is(http_get($port, '/region', 'X-Akamai-Edgescape' =>
            'xcountry_code=US')->{body},
   "unknown\n", 'a key that only ends in country_code is not it');

# the trackers of the default list are dropped without consent
my @trackers = qw(_ga _ga_ABC123 _gid __utma _clck _hjSessionUser_1 mp_abc_mixpanel
                  AMP_123 ajs_anonymous_id _pk_id.1.abcd _hp2_id.1 AMCV_X
                  _gcl_au IDE _fbp _fbc fr _uetsid MUID _ttp li_sugr bcookie
                  _pin_unauth personalization_id _scid _rdt_uuid cto_bundle
                  __hstc hubspotutk);
my $mark = $t->upstream_mark('app');
http_get($port, '/', Cookie => join('; ', map { "$_=1" } @trackers,
                                     qw(session csrftoken lang)));
my ($req) = $t->upstream_since($mark, 'app');
my ($sent) = $req->{head} =~ /^cookie:\s*(.*?)\r?$/mi;
is($sent, 'session=1; csrftoken=1; lang=1',
   scalar(@trackers) . ' common trackers dropped, the site\'s own kept');

$t->nginx_stop;

done_testing();
