#!/usr/bin/perl

# The pseudonymous subject and the signed context: $privacy_subject is
# HMAC-SHA256(key, raw) in base64url and the raw value never leaves the
# edge; $privacy_context is an HS256 JWT that an independent check (Perl's
# Digest::SHA) verifies, with the claims of the decision, exp = iat + 60.
# privacy_key is refused when missing or short.

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(hmac_sha256);

use lib 't/lib';
use PETest;

my $t = PETest->new;
$t->upstream('app');

my $key = join '', map { chr(($_ * 37 + 11) % 256) } 1 .. 48;
$t->write_file('privacy.key', $key);
$t->write_file('short.key', 'k' x 31);

$t->nginx_start(<<'EOF');
    privacy_key %%DIR%%/privacy.key;
    privacy_consent_category ai_processing explicit;

    server {
        listen 127.0.0.1:%%PORT%%;

        privacy_region $http_cf_ipcountry $http_cf_region_code;
        privacy_region_policy default opt-in;
        privacy_consent_cookie pe_consent kv;
        privacy_subject $cookie_session;

        location / {
            proxy_set_header Privacy-Context $privacy_context;
            proxy_set_header Cookie "";
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }

        location /subject {
            return 200 "$privacy_subject\n";
        }
    }
EOF

my $port = $t->port;

# the pseudonym
my $r = http_get($port, '/subject', Cookie => 'session=user-42@example.com');
my $want = b64url(hmac_sha256('user-42@example.com', $key));
is($r->{body}, "$want\n", 'the subject is HMAC-SHA256(key, raw), base64url');
is(length $want, 43, '... 43 characters');
is(http_get($port, '/subject', Cookie => 'session=user-43@example.com')->{body},
   b64url(hmac_sha256('user-43@example.com', $key)) . "\n",
   'another user, another pseudonym');
is(http_get($port, '/subject')->{body}, "\n", 'no session: an empty subject');

# the context, as the upstream receives it
my $mark = $t->upstream_mark('app');
my $before = time;
$r = http_get($port, '/', 'CF-IPCountry' => 'FR', 'Sec-GPC' => '1',
              Cookie => 'session=user-42@example.com; '
                      . 'pe_consent=ai_processing:1,analytics:1');
is($r->{status}, 200, 'proxied');
my ($req) = $t->upstream_since($mark, 'app');
my ($jwt) = $req->{head} =~ /^privacy-context:\s*(\S+)\r?$/mi;
ok($jwt, 'the upstream got a Privacy-Context header');

my $claims = jwt_verify($jwt, $key);
ok($claims, 'its HS256 signature checks out with the key (Digest::SHA)');
is($claims->{sub}, $want, 'sub: the pseudonym');
is($claims->{reg}, 'FR', 'reg: FR');
is($claims->{grp}, 'eea', 'grp: eea');
is_deeply($claims->{con}, ['necessary', 'analytics', 'ai_processing'],
          'con: the granted categories');
ok($claims->{gpc}, 'gpc: true');
ok($claims->{iat} >= $before - 1 && $claims->{iat} <= time + 1, 'iat: now');
is($claims->{exp}, $claims->{iat} + 60, 'exp: iat + 60 s');
like($claims->{jti}, qr/^[0-9a-f]{32}$/, 'jti: the request id');

ok(!jwt_verify($jwt, $key . 'x'), 'another key does not verify it');
(my $forged = $jwt) =~ s/\.([^.]+)\./'.' . b64url('{"sub":"admin"}') . '.'/e;
ok(!jwt_verify($forged, $key), 'an altered payload does not verify');

unlike($req->{head} . ($req->{body} // ''), qr/user-42|example\.com/,
       'the raw subject never reached the upstream');

$mark = $t->upstream_mark('app');
http_get($port, '/', 'CF-IPCountry' => 'FR');
my ($req2) = $t->upstream_since($mark, 'app');
my ($jwt2) = $req2->{head} =~ /^privacy-context:\s*(\S+)\r?$/mi;
my $c2 = jwt_verify($jwt2, $key);
is($c2->{sub}, '', 'no subject: sub is empty');
isnt($c2->{jti}, $claims->{jti}, 'each request its own jti');

$t->nginx_stop;

# privacy_key refused when missing, short, or needed and absent
$t->conf_fails('privacy_key %%DIR%%/nope.key;',
               qr/open\(\) "\S+nope\.key" failed/, 'a missing key file');
$t->conf_fails('privacy_key %%DIR%%/short.key;',
               qr/privacy_key "\S+short\.key" holds 31 bytes, at least 32/,
               'a 31-byte key');
$t->conf_fails('server { privacy_subject $cookie_s; }',
               qr/"privacy_subject" needs "privacy_key"/,
               'a subject without a key');

done_testing();
