#!/usr/bin/perl

# Bad arguments to the upload directives fail nginx -t with an [emerg]
# message naming the directive and the value; good ones pass.

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

done_testing();
