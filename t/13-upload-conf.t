#!/usr/bin/perl

# Bad arguments to the upload directives fail nginx -t with an [emerg]
# message naming the directive and the value; good ones pass.  An
# inherited privacy_upload_max_size never loosens a client_max_body_size
# set at the same or a more specific level; an empty body without a length
# (chunked, HTTP/2) is no upload.

use strict;
use warnings;

use Test::More;

use lib 't/lib';
use PETest;

my $t = PETest->new;

sub loc { "server { listen 127.0.0.1:%%PORT%%; location / { $_[0] } }" }

my ($rc, $out) = $t->nginx_test_conf(loc('privacy_upload_max_size 10m; '
    . 'privacy_upload_type image/* 5m; privacy_upload_type video/mp4 1g; '
    . 'privacy_upload_type */* 0; privacy_upload_sniff on;'));
is($rc, 0, 'a good configuration passes nginx -t') or diag($out);

$t->conf_fails(loc('privacy_upload_max_size ten;'),
               qr/invalid size "ten" in "privacy_upload_max_size"/,
               'a size that is not one');
$t->conf_fails(loc('privacy_upload_max_size 1m; privacy_upload_max_size 2m;'),
               qr/"privacy_upload_max_size" directive is duplicate/,
               'a duplicate max size');
$t->conf_fails(loc('privacy_upload_type image 1m;'),
               qr/invalid media type "image" in "privacy_upload_type"/,
               'a type without a subtype');
$t->conf_fails(loc('privacy_upload_type image/p*g 1m;'),
               qr/invalid media type "image\/p\*g"/, 'a star inside a subtype');
$t->conf_fails(loc('privacy_upload_type */png 1m;'),
               qr/invalid media type "\*\/png"/, 'a star as the type alone');
$t->conf_fails(loc('privacy_upload_type "image/png; q=1" 1m;'),
               qr/invalid media type "image\/png; q=1"/, 'a type with a parameter');
$t->conf_fails(loc('privacy_upload_type image/png -1;'),
               qr/invalid size "-1" in "privacy_upload_type"/, 'a negative size');
$t->conf_fails(loc('privacy_upload_type image/png 1m; '
                   . 'privacy_upload_type IMAGE/PNG 2m;'),
               qr/duplicate type "IMAGE\/PNG" in "privacy_upload_type"/,
               'the same type twice');
$t->conf_fails(loc('privacy_upload_type image/png;'),
               qr/invalid number of arguments in "privacy_upload_type"/,
               'a type without a size');
$t->conf_fails(loc('privacy_upload_sniff maybe;'),
               qr/invalid value "maybe" in "privacy_upload_sniff"/,
               'sniff neither on nor off');

# the [emerg] lines above are nginx -t's; the server's log starts anew
$t->write_file('error.log', '');
$t->upstream('app');
$t->nginx_start(<<'EOF', ports => [$t->port, $t->port('srv'), $t->port('h2')]);
    privacy_upload_max_size 1g;

    server {
        listen 127.0.0.1:%%PORT%%;
        listen 127.0.0.1:%%PORT_h2%% http2;

        location /strict {
            client_max_body_size 1k;
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }

        location /both {
            privacy_upload_max_size 2k;
            client_max_body_size 1k;
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }

        location /typed {
            privacy_upload_type image/png 1m;
            privacy_upload_sniff on;
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_srv%%;
        client_max_body_size 1k;

        location /own {
            privacy_upload_max_size 2k;
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }

        location / {
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }
    }
EOF

my $port = $t->port;
my $chunked = sub {
    my ($p, $uri, $data, $type) = @_;
    my $body = length $data
        ? sprintf('%x', length $data) . "\r\n$data\r\n0\r\n\r\n"
        : "0\r\n\r\n";
    return http($p, "POST $uri HTTP/1.1\r\nHost: x\r\n"
                    . ($type ? "Content-Type: $type\r\n" : '')
                    . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                    . $body);
};

my $r = http_post($port, '/strict', 'x' x 1280);
is($r->{status}, 413, 'http-level privacy_upload_max_size 1g, location '
   . 'client_max_body_size 1k: 1280 bytes refused');
like($r->{body}, qr/"error":"upload_too_large","limit":1024/,
     '... with the JSON refusal, at the stricter limit');
is($chunked->($port, '/strict', 'x' x 1280)->{status}, 413,
   '... chunked too');
is(http_post($port, '/strict', 'x' x 512)->{status}, 200,
   '... 512 bytes pass');
is(http_post($port, '/both', 'x' x 1500)->{status}, 413,
   'both set in one location: the stricter (1k)');
is(http_post($t->port('srv'), '/', 'x' x 1500)->{status}, 413,
   'client_max_body_size 1k in the server, the 1g inherited: 1k');
is(http_post($t->port('srv'), '/own', 'x' x 1500)->{status}, 200,
   'privacy_upload_max_size 2k in the location, more specific than the '
   . "server's 1k: it governs");

# an empty body is no upload, whether its length is said or not
is(http_post($port, '/typed', '')->{status}, 200,
   'Content-Length: 0 without a type: passes');
is($chunked->($port, '/typed', '')->{status}, 200,
   'an empty chunked body without a type: passes');
is($chunked->($port, '/typed', 'x' x 10)->{status}, 415,
   'a chunked body with bytes and no type: 415');
is($chunked->($port, '/typed', 'x' x 10, 'image/png')->{status}, 415,
   'a chunked body that is not the PNG it says: 415');
is(http2_request($t->port('h2'), '/typed', [''])->{status}, 200,
   'HTTP/2, one empty DATA frame: passes');
is(http2_request($t->port('h2'), '/typed', ['x' x 10])->{status}, 415,
   'HTTP/2 with bytes and no type: 415');

$t->nginx_stop;

done_testing();
