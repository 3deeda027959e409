#!/usr/bin/perl

# privacy_cookie_filter, both ways: cookies of refused categories are
# dropped from the request before the upstream sees them (a Cookie header
# left empty is not sent at all), and Set-Cookie headers of refused
# categories are dropped from the response, attributes and all: an
# upstream's, and those nginx itself adds (add_header, userid), whose
# filters run before the module's.

use strict;
use warnings;

use Test::More;

use lib 't/lib';
use PETest;

my $t = PETest->new;
$t->upstream('app', headers =>
      "Set-Cookie: _ga=GA1.1.123; Path=/; Max-Age=63072000; SameSite=Lax\r\n"
    . "Set-Cookie: session=s3cr3t; Path=/; HttpOnly; Secure\r\n"
    . "Set-Cookie: _fbp=fb.1.1700000000000.1; Domain=.example.com\r\n"
    . "set-cookie:  IDE=ad-id; Expires=Wed, 21 Oct 2026 07:28:00 GMT\r\n"
    . "Set-Cookie: prefs=dark; Path=/\r\n");

$t->nginx_start(<<'EOF');
    privacy_cookie_class analytics ^_ga ^_gid$ ^_pk_;
    privacy_cookie_class marketing ^_fbp$ ^IDE$ ^_gcl_;
    privacy_cookie_class preferences ^prefs$;

    server {
        listen 127.0.0.1:%%PORT%% http2;
        listen 127.0.0.1:%%PORT_h1%%;

        privacy_region $http_cf_ipcountry;
        privacy_region_policy default opt-in;
        privacy_consent_cookie pe_consent kv;
        privacy_cookie_filter on;

        location / {
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }

        location /off {
            privacy_cookie_filter off;
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }

        # cookies made by nginx itself, not by an upstream
        location = /added {
            add_header Set-Cookie "_ga=GA1.1.added; Path=/" always;
            add_header Set-Cookie "session=added; Path=/" always;
            return 204;
        }

        location = /userid {
            userid on;
            userid_name _pk_id;
            return 204;
        }
    }
EOF

my $port = $t->port('h1');

sub sent_cookies {
    my ($req) = @_;
    my @c = $req->{head} =~ /^cookie:\s*(.*?)\r?$/mgi;
    return join ' | ', @c;
}

sub set_cookies {
    my ($r) = @_;
    return join ' | ', map { (split /=/, $_, 2)[0] }
                       @{ $r->{header_list}{'set-cookie'} // [] };
}

my $mark = $t->upstream_mark('app');
my $r = http_get($port, '/', 'CF-IPCountry' => 'DE',
                 Cookie => '_ga=GA1.1.1; session=abc; _fbp=fb.1; prefs=dark');
is($r->{status}, 200, 'no consent: the request passes');
my ($req) = $t->upstream_since($mark, 'app');
is(sent_cookies($req), 'session=abc',
   'the upstream got only the necessary cookie');
is(set_cookies($r), 'session',
   'and the client only the necessary Set-Cookie');

$mark = $t->upstream_mark('app');
$r = http_get($port, '/', 'CF-IPCountry' => 'DE',
              Cookie => 'pe_consent=analytics:1,preferences:1; _ga=GA1.1.1; '
                      . 'session=abc; _fbp=fb.1; prefs=dark');
($req) = $t->upstream_since($mark, 'app');
is(sent_cookies($req),
   'pe_consent=analytics:1,preferences:1; _ga=GA1.1.1; session=abc; '
   . 'prefs=dark', 'with analytics and preferences consent: those stay');
is(set_cookies($r), '_ga | session | prefs',
   'Set-Cookie: analytics and preferences kept, marketing dropped');
like($r->{raw}, qr/^Set-Cookie: _ga=GA1\.1\.123; Path=\/; Max-Age=63072000; /m,
     'a kept Set-Cookie keeps its attributes');

$mark = $t->upstream_mark('app');
$r = http_get($port, '/', 'CF-IPCountry' => 'DE',
              Cookie => '_ga=1; _fbp=2; _gcl_au=3');
($req) = $t->upstream_since($mark, 'app');
is(sent_cookies($req), '',
   'every cookie refused: no Cookie header reaches the upstream');

# two Cookie header lines, as some clients send them
$mark = $t->upstream_mark('app');
$r = http($port, "GET / HTTP/1.1\r\nHost: x\r\nCF-IPCountry: DE\r\n"
               . "Cookie: _ga=1; a=1\r\nCookie: _fbp=2\r\nCookie: b=2\r\n"
               . "Connection: close\r\n\r\n");
($req) = $t->upstream_since($mark, 'app');
is(sent_cookies($req), 'a=1 | b=2',
   'several Cookie lines: each filtered, the emptied one gone');

# HTTP/2 sends each cookie as its own header field (RFC 9113 8.2.3)
$mark = $t->upstream_mark('app');
$r = http2_request($t->port, '/', [], 'cf-ipcountry' => 'DE',
                   cookie => '_ga=1', cookie => 'session=h2',
                   cookie => '_fbp=2');
is($r->{status}, 200, 'HTTP/2 request with three cookie fields');
($req) = $t->upstream_since($mark, 'app');
is(sent_cookies($req), 'session=h2', 'HTTP/2: only the necessary one left');

# the filter off: nothing touched
$mark = $t->upstream_mark('app');
$r = http_get($port, '/off', 'CF-IPCountry' => 'DE',
              Cookie => '_ga=1; session=abc');
($req) = $t->upstream_since($mark, 'app');
is(sent_cookies($req), '_ga=1; session=abc', 'privacy_cookie_filter off');
is(set_cookies($r), '_ga | session | _fbp | IDE | prefs',
   '... and every Set-Cookie passes');

# Set-Cookie that nginx adds itself: add_header and the userid cookie
$r = http_get($port, '/added', 'CF-IPCountry' => 'DE');
is($r->{status}, 204, 'a location that sets cookies with add_header');
is(set_cookies($r), 'session',
   '... its analytics cookie dropped without consent, the necessary kept');
$r = http_get($port, '/added', 'CF-IPCountry' => 'DE',
              Cookie => 'pe_consent=analytics:1');
is(set_cookies($r), '_ga | session', '... and kept with analytics consent');
$r = http_get($port, '/userid', 'CF-IPCountry' => 'DE');
is(set_cookies($r), '', 'userid\'s analytics cookie dropped without consent');
$r = http_get($port, '/userid', 'CF-IPCountry' => 'DE',
              Cookie => 'pe_consent=analytics:1');
is(set_cookies($r), '_pk_id', '... and set with analytics consent');

# odd cookie syntax
$mark = $t->upstream_mark('app');
$r = http_get($port, '/', 'CF-IPCountry' => 'DE',
              Cookie => ';;  _ga ; noval; session="quoted"; ;_gid=1;');
($req) = $t->upstream_since($mark, 'app');
is(sent_cookies($req), 'noval; session="quoted"',
   'empty pairs, a name without a value, quotes: handled');

$t->nginx_stop;

done_testing();
