#!/usr/bin/perl

# The consent and region enforcement's cost, side by side in one run: bare
# nginx serving a small static file, against the same file with the region
# (a trusted CF-IPCountry), a TCF 2.2 consent cookie, the cookie filter
# and the default cookie classes enforced on every request.  wrk rows with
# an A/A control, and callgrind's instructions per request.

use strict;
use warnings;

use lib 't/lib', 'bench';
use PETest;
use PEBench;

my $top = $PETest::TOP;
my $http = <<"NGX";
    access_log off;
    include $top/conf/cookies.conf;

    server {
        listen 127.0.0.1:%%PORT%% backlog=1024;

        location /bare/ {
            alias %%DIR%%/www/;
        }

        location /control/ {
            alias %%DIR%%/www/;
        }

        location /enforced/ {
            privacy_region \$http_cf_ipcountry \$http_cf_region_code;
            privacy_region_policy eea opt-in;
            privacy_region_policy us_privacy_states opt-out gpc;
            privacy_region_policy default opt-out;
            privacy_consent_cookie euconsent-v2 tcf;
            privacy_consent_cookie OptanonConsent onetrust;
            privacy_cookie_filter on;
            alias %%DIR%%/www/;
        }
    }
NGX


my $b = PEBench->new(http => $http, setup => \&PEBench::static_site);
my $tcf = tcf_string(purposes => [1, 8, 9]);
my @headers = ('CF-IPCountry: DE',
               "Cookie: euconsent-v2=$tcf; _ga=GA1.1.1; session=abc; "
               . '_fbp=fb.1.1; lang=en');

$b->header('privacy-edge consent + region + cookie filter, 600 B file');
$b->compare('control: bare vs bare (A/A)', '/bare/', '/control/',
            headers => \@headers);
$b->compare('enforced vs bare', '/bare/', '/enforced/',
            headers => \@headers);

my %h = map { split /: /, $_, 2 } @headers;
my $ir = $b->callgrind(200, sub {
    my ($port, $uri) = @_;
    return http_get($port, $uri, %h)->{status} == 200;
}, '/bare/', '/enforced/');
PEBench::callgrind_row('callgrind, per request:', $ir->{'/bare/'},
                       $ir->{'/enforced/'}) if $ir;

$b->t->nginx_stop_quiet;
