#!/usr/bin/perl

# provider NAME type=KIND: two accounts (or regions) of one kind side by
# side.  A bare "provider fal" still means type fal; "provider fal_eu
# type=fal" is a second fal provider with its own base, key and callback
# keys.  Models name providers by NAME, and so do the callback routes
# (/v1/providers/NAME/webhook): each job goes to its own provider's
# stand-in with that provider's key, and each callback is verified by the
# keys of the provider its route names, never the other's.  -t refuses
# an unknown type=, and checks a provider's attributes by its type.

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(sha256_hex);
use File::Temp qw(tempdir);
use JSON::PP;

use lib 't/lib';
use PETest;
use PEBackend;

my $EU_KEY = 'fal-eu-key-SECRET-5e07';
my $EU_MODEL = 'fal-ai/minimax/video-01/image-to-video';
my $bin = $PETest::BACKEND;

# --- -t: type= ----------------------------------------------------------------

{
    my $t = PETest->new;
    my $d = $t->dir;
    mkdir "$d/spool";
    $t->write_file('context.key', 'k' x 32);
    $t->write_file('data.key', '0123456789abcdef' x 4);
    my $head = "spool $d/spool;\ncontext_key $d/context.key;\n"
               . "data_key $d/data.key;\npublic_url https://media.example;\n";

    my $check = sub {
        my ($text) = @_;
        my $f = $t->write_file('backend.conf', $head . $text);
        my $out = `$bin -t -c $f 2>&1`;
        return ($? >> 8, $out);
    };
    my $passes = sub {
        my ($text, $name) = @_;
        my ($rc, $out) = $check->($text);
        is($rc, 0, "$name: passes -t") or diag($out);
    };
    my $fails = sub {
        my ($text, $re, $name) = @_;
        my ($rc, $out) = $check->($text);
        is($rc, 1, "$name: -t fails");
        like($out, qr/\[emerg\] $re in \S+backend\.conf:\d+\n/,
             "$name: says why, with file and line") or diag($out);
        like($out, qr/test failed/, "$name: and that the test failed");
    };

    $passes->(<<'CONF', 'two fal accounts, one bare and one with type=');
provider fal    base=https://queue.fal.run key_env=FAL_KEY;
provider fal_eu type=fal base=https://eu.queue.fal.run key_env=FAL_EU_KEY
                webhook_jwks=/etc/privacy-edge/fal-jwks.json region=eu;
provider kling-sg type=kling base=https://api-singapore.klingai.com
                access_key_env=A secret_key_env=S callbacks=on;
model a provider=fal;
model b provider=fal_eu;
model c provider=kling-sg;
CONF
    $passes->("provider fal type=fal base=https://x key_env=K;\n",
              'type= naming the kind its name already says');
    $fails->("provider fal_eu type=sora base=https://x key_env=K;\n",
             qr/unknown type "sora" of provider "fal_eu", expected fal, (?#
               )replicate(?:, \w+)* or \w+/, 'an unknown type=');
    $fails->("provider fal_eu base=https://x key_env=K;\n",
             qr/unknown provider "fal_eu", expected fal, replicate(?:, \w+)* or (?#
               )\w+, or a name and type=/, 'a name that is no kind, no type=');
    $fails->("provider fal/eu type=fal base=https://x key_env=K;\n",
             qr/invalid provider name "fal\/eu", expected letters, digits, (?#
               )"-" and "_", 31 at most/, 'a name unfit for a URL');
    $fails->("provider fal_eu type=fal base=https://x;\n",
             qr/provider "fal_eu" needs key_env=/,
             'what a kind needs is asked of its type=, not its name');
    $fails->("provider rep2 type=replicate base=https://x key_env=K "
             . "webhook_jwks=/x;\n",
             qr/provider "rep2" takes no webhook_jwks=/,
             'what a kind does not take, likewise');
    for my $kind (qw(fal replicate seedance veo)) {
        $fails->("provider p type=$kind base=https://x key_env=K "
                 . "access_key_env=A;\n",
                 qr/provider "p" takes no access_key_env= or secret_key_env=/,
                 "a $kind provider given Kling's keys");
    }
    $fails->("provider kling type=fal base=https://x key_env=K "
             . "callbacks=on;\n",
             qr/provider "kling" takes no callbacks=/,
             'a type= other than the name wins');
    $fails->("provider fal base=https://x key_env=K;\n"
             . "provider fal type=replicate base=https://y key_env=K;\n",
             qr/duplicate provider "fal"/, 'one name, twice');
}

# --- two fal accounts at work -----------------------------------------------

# the second account's callback key and JWKS, made before the backend
# starts (it reads the JWKS at start)
my $eu = tempdir(CLEANUP => 1);
system('openssl', 'genpkey', '-algorithm', 'ed25519', '-out',
       "$eu/fal-eu.pem") == 0 or die "openssl genpkey failed";
my $der = `openssl pkey -in '$eu/fal-eu.pem' -pubout -outform DER`;
open(my $fh, '>', "$eu/fal-eu-jwks.json") or die "$eu: $!";
print $fh encode_json({ keys => [ { kty => 'OKP', crv => 'Ed25519',
                                    x => b64url(substr($der, -32)) } ] });
close $fh;

$ENV{PE_TEST_FAL_EU_KEY} = $EU_KEY;
my $s = PEBackend->new(fal_webhooks => 1, provider => 'poll=60s',
    extra => "provider fal_eu type=fal base=http://127.0.0.1:%%PORT_faleu%% "
             . "key_env=PE_TEST_FAL_EU_KEY webhook_jwks=$eu/fal-eu-jwks.json "
             . "poll=60s region=eu;\n"
             . "model \"$EU_MODEL\" provider=fal_eu;\n");
my $t = $s->t;
my $d = $s->dir;
my $bport = $s->bport;

# the second fal stand-in, its own key and callback key
my $euport = $t->port('faleu');
$t->spawn('faleu', $^X, "$PETest::TOP/t/lib/fal-standin", '--port', $euport,
          '--dir', "$d/faleu", '--key', $EU_KEY, '--run', 0.6,
          '--webhook-key', "$eu/fal-eu.pem");
wait_port($euport, 10) or BAIL_OUT('the second fal stand-in did not start');

my $alice = $s->context;
my $png = sample('png', 4000);

my $r = $s->upload(context => $s->context, file => $png);
is($r->{status}, 202, 'a job for the model of provider fal: 202');
my $id = $r->{json}{id} // 'none';
$r = $s->upload(context => $s->context, file => $png, model => $EU_MODEL);
is($r->{status}, 202, 'a job for the model of provider fal_eu: 202');
my $eu_id = $r->{json}{id} // 'none';

is($s->wait_status($id, 20, 'succeeded', 'failed'), 'succeeded',
   'the fal job succeeds');
is($s->wait_status($eu_id, 20, 'succeeded', 'failed'), 'succeeded',
   'the fal_eu job succeeds');
is($s->record($id)->{provider}, 'fal', '... recorded as provider fal');
is($s->record($eu_id)->{provider}, 'fal_eu', '... and as provider fal_eu');

# each job at its own stand-in, with its own account's key
my @fal = grep { $_->{method} eq 'POST' } @{ $t->standin_requests('fal') };
my @faleu = grep { $_->{method} eq 'POST' }
            @{ $t->standin_requests('faleu') };
is(scalar @fal, 1, 'the first stand-in took one submission');
is(scalar @faleu, 1, 'the second stand-in took one submission');
like($fal[0]{uri} // '', qr{^/fal-ai/kling-video/},
     '... the first its own model');
like($faleu[0]{uri} // '', qr{^/\Q$EU_MODEL\E},
     '... the second its own model');
is($faleu[0]{headers}{authorization}, "Key $EU_KEY",
   '... with the second account\'s key');
my $want = "http://127.0.0.1:$bport/v1/providers/fal_eu/webhook?job=$eu_id";
(my $enc = $want) =~ s/([^A-Za-z0-9._~-])/sprintf('%%%02X', ord $1)/ge;
like($faleu[0]{uri}, qr/\?fal_webhook=\Q$enc\E$/,
     '... asking for callbacks at the route of its name');

# each callback verified by the keys of the provider its route names
my @cb = @{ $t->standin_callbacks('fal') };
my @cb_eu = @{ $t->standin_callbacks('faleu') };
is(scalar @cb, 1, 'fal sent one callback');
is($cb[0]{status}, 200, '... and the backend took it');
is(scalar @cb_eu, 1, 'fal_eu sent one callback');
is($cb_eu[0]{status}, 200, '... and the backend took it, by fal_eu\'s keys');

sub post_hook {
    my ($name, $job, $body, %h) = @_;
    my $r = http_post($bport, "/v1/providers/$name/webhook?job=$job", $body,
                      'Content-Type' => 'application/json', %h);
    $r->{json} = eval { decode_json($r->{body}) } // {};
    return $r;
}

$r = post_hook('fal', $eu_id, $cb_eu[0]{body}, %{ $cb_eu[0]{headers} });
is($r->{status}, 401, 'fal_eu\'s callback at fal\'s route: 401');
is($r->{json}{error}, 'signature', '... fal\'s keys do not verify it');
$r = post_hook('fal_eu', $id, $cb[0]{body}, %{ $cb[0]{headers} });
is($r->{status}, 401, 'fal\'s callback at fal_eu\'s route: 401');

# a genuine fal signature about a job of fal_eu: not its job
my $rid = $s->record($eu_id)->{remote_id};
my $body = encode_json({ request_id => $rid, status => 'OK', payload => {} });
my $ts = time;
$t->write_file('msg', "$rid\nu\n$ts\n" . sha256_hex($body));
my $sign = "openssl pkeyutl -sign -inkey '$d/fal-webhook.pem' -rawin "
           . "-in '$d/msg'";
my $sig = unpack('H*', `$sign`);
$r = post_hook('fal', $eu_id, $body,
               'X-Fal-Webhook-Request-Id' => $rid,
               'X-Fal-Webhook-User-Id' => 'u',
               'X-Fal-Webhook-Timestamp' => $ts,
               'X-Fal-Webhook-Signature' => $sig);
is($r->{status}, 404, 'fal\'s signature about fal_eu\'s job: 404')
    or diag($r->{body});

$r = post_hook('fal_us', $eu_id, $cb_eu[0]{body}, %{ $cb_eu[0]{headers} });
is($r->{status}, 404, 'a route of no provider: 404');

# /metrics by name
$r = http_get($bport, '/metrics');
like($r->{body}, qr/^privacy_backend_jobs_total\{provider="fal_eu",(?#
                    )state="succeeded"\} 1$/m, '/metrics counts by name');

$s->finish('two fal accounts');

done_testing;
