#!/usr/bin/perl

# privacy-backend's configuration: `-t` checks it and names file, line and
# reason like nginx -t; secrets are never taken from (or echoed out of) the
# config text; the daemon serves /healthz and stops cleanly on SIGTERM.

use strict;
use warnings;

use Test::More;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep);

use lib 't/lib';
use PETest;

my $t = PETest->new;
my $d = $t->dir;
my $bin = $PETest::BACKEND;

ok(-x $bin, 'privacy-backend is built') or BAIL_OUT('no backend');

mkdir "$d/spool";
$t->write_file('context.key', 'k' x 32);
$t->write_file('data.key', "0123456789abcdef" x 4 . "\n");
$t->write_file('short.key', 'k' x 31);
$t->write_file('bad-data.key', 'x' x 31);

my $port = $t->port('backend');
# a real Redis with the password the environment will give
my $rport = $t->redis(password => 'from-the-environment');
my $good = <<"CONF";
# privacy-backend test configuration
listen        127.0.0.1:$port;
redis         127.0.0.1:$rport db=2 password_env=PE_REDIS_PASSWORD;
spool         $d/spool;
context_key   $d/context.key;
data_key      $d/data.key;
public_url    https://media.example.com/;
retention     upload=0 output=24h record=30d prompt=0;
provider      fal       base=https://queue.fal.run        key_env=FAL_KEY;
provider      replicate base=https://api.replicate.com    key_env=REPLICATE_API_TOKEN
              webhook_secret_env=REPLICATE_WEBHOOK_SECRET region=us;
provider      kling     base=https://api-singapore.klingai.com
              access_key_env=KLING_ACCESS_KEY secret_key_env=KLING_SECRET_KEY;
model         "fal-ai/kling-video/v2.1/standard/image-to-video" provider=fal;
model         bytedance/seedance-1-pro provider=replicate;
model         kling-v2-1 provider=kling;
CONF

sub check_conf {
    my ($text) = @_;
    my $f = $t->write_file('backend.conf', $text);
    my $out = `$bin -t -c $f 2>&1`;
    return ($? >> 8, $out, $f);
}

my ($rc, $out, $f) = check_conf($good);
is($rc, 0, 'the contract example configuration passes -t') or diag($out);
like($out, qr/configuration file \Q$f\E test is successful/,
     '-t says so the nginx way');

sub fails {
    my ($text, $re, $name, $secret) = @_;
    my ($rc, $out, $f) = check_conf($text);
    is($rc, 1, "$name: -t fails");
    like($out, qr/\[emerg\] $re/m, "$name: says why") or diag($out);
    like($out, qr/configuration file \Q$f\E test failed/,
         "$name: and that the test failed");
    unlike($out, qr/\Q$secret\E/, "$name: the secret is not echoed")
        if defined $secret;
}

(my $bad = $good) =~ s/^listen/lisen/m;
fails($bad, qr/unknown directive "lisen" in \S+backend\.conf:2\n/,
      'a misspelt directive, with file and line');
($bad = $good) =~ s/(^retention.*?);/$1/m;
fails($bad, qr/invalid number of arguments in "retention" directive in \S+:8\n/,
      'a missing ";" runs into the next line');
fails("listen 127.0.0.1:9000", qr/unexpected end of file, expecting ";"/,
      'end of file inside a directive');
($bad = $good) =~ s/127\.0\.0\.1:$port/127.0.0.1:99999/;
fails($bad, qr/invalid address "127\.0\.0\.1:99999" in "listen" directive/,
      'a port out of range');
($bad = $good) =~ s/password_env=PE_REDIS_PASSWORD/password=hunter2-secret/;
fails($bad, qr/a password is not read from the configuration text/,
      'a password in the config text', 'hunter2-secret');
($bad = $good) =~ s/key_env=FAL_KEY/key=fal-live-key-123/;
fails($bad, qr/a key is not read from the configuration text, use key_env/,
      'a provider key in the config text', 'fal-live-key-123');
($bad = $good) =~ s/output=24h/output=24x/;
fails($bad, qr/invalid duration "24x" in "retention" directive/,
      'a bad duration');
($bad = $good) =~ s/prompt=0/prompts=0/;
fails($bad, qr/unknown kind "prompts" in "retention"/, 'an unknown kind');
($bad = $good) =~ s/provider=kling;/provider=klingon;/;
fails($bad,
      qr/model "kling-v2-1" names provider "klingon", which is not declared/,
      'a model of an undeclared provider');
($bad = $good) =~ s/^provider      fal /provider      foo /m;
fails($bad, qr/unknown provider "foo"/, 'an unknown provider');
($bad = $good) =~ s/base=https:\/\/queue\.fal\.run/base=ftp:\/\/x/;
fails($bad, qr/invalid URL "ftp:\/\/x"/, 'a base that is no URL');
($bad = $good) =~ s/ access_key_env=KLING_ACCESS_KEY//;
fails($bad, qr/provider "kling" needs access_key_env= and secret_key_env=/,
      'kling without its access key');
($bad = $good) =~ s/context\.key/missing.key/;
fails($bad, qr/open\(\) "\S+missing\.key" failed \(No such file/,
      'a missing key file');
($bad = $good) =~ s/context\.key/short.key/;
fails($bad, qr/context_key "\S+short\.key" holds 31 bytes, at least 32/,
      'a short context key');
($bad = $good) =~ s/data\.key/bad-data.key/;
fails($bad, qr/data_key "\S+bad-data\.key" must hold 32 bytes or 64 hex/,
      'a data key of the wrong size');
($bad = $good) =~ s/^spool.*$/spool $d\/nowhere;/m;
fails($bad, qr/spool "\S+nowhere": No such file/, 'a missing spool');
($bad = $good) =~ s/^spool.*$//m;
fails($bad, qr/no "spool" directive/, 'no spool at all');
($bad = $good) =~ s/^spool\s+/spool relative\/path; #/m;
fails($bad, qr/"spool" must be an absolute path/, 'a relative spool');
fails($good . "listen 127.0.0.1:1;\n", qr/"listen" directive is duplicate/,
      'a duplicate listen');
fails($good . "model a provider=fal { }\n", qr/unexpected "\{"/,
      'a block');
fails("\0\0\0", qr/NUL byte/, 'binary garbage');
fails($good . "strip_metadata maybe;\n",
      qr/invalid value "maybe" in "strip_metadata" directive, it must be "on" or "off"/,
      'strip_metadata: neither on nor off');
fails($good . "model m provider=fal strip=no;\n",
      qr/invalid parameter "strip=no" in "model" directive/,
      'model: strip= neither on nor off');
fails($good . "residency EEA region=eu;\n",
      qr/invalid group "EEA" in "residency" directive/, 'residency: a group');
fails($good . "residency eea region=eu,,us;\n",
      qr/invalid region list "eu,,us" in "residency" directive/,
      'residency: an empty region');
fails($good . "residency eea eu;\n",
      qr/invalid parameter "eu" in "residency" directive, expected region=/,
      'residency: no region=');
fails($good . "residency eea region=eu;\nresidency eea region=us;\n",
      qr/duplicate residency for group "eea"/, 'residency: twice');
fails("provider fal base=https://x key_env=K timeout=0;\n",
      qr/invalid timeout "0" in "provider" directive/, 'provider: timeout=0');
fails("provider fal base=https://x key_env=K submit_parallel=1x;\n",
      qr/invalid submit_parallel "1x" in "provider" directive/,
      'provider: submit_parallel=1x');

fails("provider fal base=https://x key_env=K poll=0;\n",
      qr/invalid poll "0" in "provider" directive, expected 1s to 1h/,
      'provider: poll=0');
fails("provider kling base=https://x access_key_env=A secret_key_env=S "
      . "callbacks=yes;\n",
      qr/invalid callbacks "yes" in "provider" directive, expected on or off/,
      'provider: callbacks=yes');
fails("provider fal base=https://x key_env=K webhook_secret_env=S;\n",
      qr/provider "fal" takes no webhook_secret_env=/,
      'fal: a Replicate webhook secret');
fails("provider replicate base=https://x key_env=K callbacks=on;\n",
      qr/provider "replicate" takes no callbacks=/, 'replicate: callbacks=');
fails("provider kling base=https://x access_key_env=A secret_key_env=S "
      . "webhook_jwks=/x;\n",
      qr/provider "kling" takes no webhook_jwks=/, 'kling: webhook_jwks=');

# the documented provider lines (docs/backend.md) are a configuration
# that passes -t
{
    open(my $fh, '<', "$PETest::TOP/docs/backend.md")
        or die "docs/backend.md: $!";
    my $readme = do { local $/; <$fh> };
    close $fh;
    my ($lines) = $readme =~ /```\n(public_url .*?)```/s;
    ok($lines && $lines =~ /provider kling/,
       'docs/backend.md has provider lines');
    (my $conf = $lines // '') =~ s{/etc/privacy-edge/fal-jwks\.json}
                                 {$d/fal-jwks.json};
    $t->write_file('fal-jwks.json', '{"keys":[{"kty":"OKP","crv":"Ed25519",'
                   . '"x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}');
    my ($rc, $out) = check_conf("spool $d/spool;\ncontext_key $d/context.key;\n"
                                . "data_key $d/data.key;\n$conf");
    is($rc, 0, '... and they pass -t') or diag($out);
}

$rc = system("$bin -t -c $d/no-such.conf >/dev/null 2>&1") >> 8;
is($rc, 1, 'a missing configuration file fails');

# the daemon itself
$t->write_file('backend.conf', $good);
{
    # a secret the configuration names but the environment lacks: no start
    delete local $ENV{PE_REDIS_PASSWORD};
    my $out = `$bin -c $d/backend.conf 2>&1`;
    is($? >> 8, 1, 'password_env= names an unset variable: no start');
    my $says = 'environment variable "PE_REDIS_PASSWORD" of redis '
               . 'password_env= is not set';
    like($out, qr/\Q$says\E/, '... and it says which');
}

$ENV{PE_REDIS_PASSWORD} = 'from-the-environment';
$ENV{REPLICATE_API_TOKEN} = 'r8_replicate-token-from-the-environment';
$ENV{REPLICATE_WEBHOOK_SECRET} = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
$ENV{KLING_ACCESS_KEY} = 'kling-access';
$ENV{KLING_SECRET_KEY} = 'kling-secret';
{
    # a webhook secret that is none: no start, and the value is not shown
    local $ENV{REPLICATE_WEBHOOK_SECRET} = 'not-a-whsec-secret!';
    my $out = `$bin -c $d/backend.conf 2>&1`;
    is($? >> 8, 1, 'a webhook secret that is not whsec_ base64: no start');
    like($out, qr/\Qthe value of REPLICATE_WEBHOOK_SECRET is not a webhook secret\E/,
         '... and it says which');
    unlike($out, qr/not-a-whsec-secret/, '... without the value');
}
{
    # Kling's secret key the environment lacks
    delete local $ENV{KLING_SECRET_KEY};
    local $ENV{FAL_KEY} = 'fal-key';
    my $out = `$bin -c $d/backend.conf 2>&1`;
    like($out, qr/\Qprovider "kling": the environment variable KLING_SECRET_KEY is not set\E/,
         'kling: secret_key_env= names an unset variable: no start')
        or diag($out);
}
{
    # a provider's key the environment lacks: no start, and it says which
    delete local $ENV{FAL_KEY};
    my $out = `$bin -c $d/backend.conf 2>&1`;
    is($? >> 8, 1, 'key_env= names an unset variable: no start');
    like($out, qr/\Qprovider "fal": the environment variable FAL_KEY is not set\E/,
         '... and it says which');
}

$ENV{FAL_KEY} = 'fal-key-from-the-environment';
my $pid = $t->spawn('backend', $bin, '-c', "$d/backend.conf");
ok(wait_port($port, 5), 'the backend listens');

my $r = http_get($port, '/healthz');
is($r->{status}, 200, 'GET /healthz: 200');
is($r->{body}, qq({"status":"ok"}\n), 'GET /healthz: ok');
is($r->{headers}{'content-type'}, 'application/json', 'as JSON');

$r = http_post($port, '/healthz', 'x');
is($r->{status}, 405, 'POST /healthz: 405');

$r = http_get($port, '/v1/nothing');
is($r->{status}, 404, 'an unknown route: 404');
is($r->{body}, qq({"error":"not_found"}\n), '... as JSON');

$r = http_get($port, '/metrics');
like($r->{body}, qr/^privacy_backend_up 1$/m, '/metrics in Prometheus text');

kill 'TERM', $pid;
my $waited = 0;
while ($waited < 50 && waitpid($pid, WNOHANG) != $pid) {
    sleep 0.1;
    $waited++;
}
is($? >> 8, 0, 'SIGTERM: the backend exits cleanly');
like($t->read_file('backend.log'), qr/listening on 127\.0\.0\.1:$port/,
     'it logged where it listened');
unlike($t->read_file('backend.log'), qr/\[(?:error|emerg)\]/,
       'and nothing went wrong on the way');

done_testing();
