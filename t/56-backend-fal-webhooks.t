#!/usr/bin/perl

# fal's webhooks.  A submission asks for a callback
# (?fal_webhook=); the stand-in sends it signed as fal signs them (Ed25519
# over request id, user id, timestamp and the body's SHA-256, by a key of
# fal's JWKS); the backend believes it only when a key of its JWKS file
# verifies it, fresh and never seen before, and reads the file again when
# it changes (keys rotate).

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(sha256_hex);
use JSON::PP;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use PETest;
use PEBackend;

my $RUN = 5;
my $s = PEBackend->new(run => $RUN, fal_webhooks => 1,
                       provider => 'poll=60s');
my $t = $s->t;
my $d = $s->dir;
my $bport = $s->bport;
my $png = sample('png', 20000);
my $alice = $s->context;

# a fal-style signature by the PEM key $pem
sub fal_sign {
    my ($pem, $rid, $uid, $ts, $body) = @_;
    $t->write_file('msg', "$rid\n$uid\n$ts\n" . sha256_hex($body));
    my $sig = `openssl pkeyutl -sign -inkey '$pem' -rawin -in '$d/msg'`;
    return unpack('H*', $sig);
}

sub post_hook {
    my ($job, $body, %h) = @_;
    my $r = http_post($bport, "/v1/providers/fal/webhook?job=$job", $body,
                      'Content-Type' => 'application/json', %h);
    $r->{json} = eval { decode_json($r->{body}) } // {};
    return $r;
}

# --- the stand-in's callback wakes the job -------------------------------------

my $t0 = time;
my $r = $s->upload(context => $alice, file => $png, prompt => 'a fal job');
my $id = $r->{json}{id} // 'none';
is($s->wait_status($id, $RUN + 6, 'succeeded', 'failed'), 'succeeded',
   'the job succeeds');
my $took = time - $t0;
ok($took < $RUN + 4, sprintf('... in %.1f s, the fallback poll a minute '
                             . 'away: the callback woke it', $took));
my ($submit) = grep { $_->{method} eq 'POST' } @{ $t->fal_requests };
my $want = "http://127.0.0.1:$bport/v1/providers/fal/webhook?job=$id";
(my $enc = $want) =~ s/([^A-Za-z0-9._~-])/sprintf('%%%02X', ord $1)/ge;
like($submit->{uri}, qr/\?fal_webhook=\Q$enc\E$/,
     'the submission asks for a callback to the backend\'s route');
my @cb = @{ $t->standin_callbacks('fal') };
is(scalar @cb, 1, 'fal sent one callback');
is($cb[0]{status}, 200, '... and the backend took it');
my $rid = $s->record($id)->{remote_id};

# --- what is refused ---------------------------------------------------------

my %sent = %{ $cb[0]{headers} };
my %hd = map { $_ => $sent{$_} } keys %sent;
$r = post_hook($id, $cb[0]{body}, %hd);
is($r->{status}, 409, 'the same callback again: 409 replayed');

system('openssl', 'genpkey', '-algorithm', 'ed25519', '-out',
       "$d/intruder.pem") == 0 or die;
my $body = encode_json({ request_id => $rid, status => 'OK', payload => {} });
my $ts = int(time);
$r = post_hook($id, $body,
               'X-Fal-Webhook-Request-Id' => $rid,
               'X-Fal-Webhook-User-Id' => 'u',
               'X-Fal-Webhook-Timestamp' => $ts,
               'X-Fal-Webhook-Signature' =>
                   fal_sign("$d/intruder.pem", $rid, 'u', $ts, $body));
is($r->{status}, 401, 'signed by a key not in the JWKS: 401');
like($r->{json}{reason} // '', qr/no webhook key verifies/, '... said so');

$ts = int(time) - 400;
$r = post_hook($id, $body,
               'X-Fal-Webhook-Request-Id' => $rid,
               'X-Fal-Webhook-User-Id' => 'u',
               'X-Fal-Webhook-Timestamp' => $ts,
               'X-Fal-Webhook-Signature' =>
                   fal_sign("$d/fal-webhook.pem", $rid, 'u', $ts, $body));
is($r->{status}, 401, 'signed by fal\'s key but 400 s old: 401');

$ts = int(time);
my $other = encode_json({ request_id => 'another-request', status => 'OK' });
$r = post_hook($id, $other,
               'X-Fal-Webhook-Request-Id' => 'another-request',
               'X-Fal-Webhook-User-Id' => 'u',
               'X-Fal-Webhook-Timestamp' => $ts,
               'X-Fal-Webhook-Signature' =>
                   fal_sign("$d/fal-webhook.pem", 'another-request', 'u',
                            $ts, $other));
is($r->{status}, 404, 'signed by fal, about another request: 404');

# --- a rotated key: the JWKS file read again ------------------------------------

$r = $s->upload(context => $s->context, file => $png,
                prompt => 'after rotation');
my $id2 = $r->{json}{id} // 'none';
my $rid2 = $s->remote_id($id2);
my $der = `openssl pkey -in '$d/intruder.pem' -pubout -outform DER`;
sleep 1.1;      # a new modification time, whatever the file system
$t->write_file('fal-jwks.json', encode_json({ keys => [
    { kty => 'OKP', crv => 'Ed25519', kid => 'rotated',
      x => b64url(substr($der, -32)) } ] }));
# fal's own callback comes, signed by the key the file no longer holds
my $late;
for (1 .. 150) {
    ($late) = grep { $_->{url} =~ /\Q$id2\E/ }
              @{ $t->standin_callbacks('fal') };
    last if $late;
    sleep 0.1;
}
is($late->{status} // 0, 401, 'a callback by the retired key: 401');
sleep 0.3;
is($s->record($id2)->{status}, 'submitted', '... and the job waits');

$body = encode_json({ request_id => $rid2, status => 'OK', payload => {} });
$ts = int(time);
$r = post_hook($id2, $body,
               'X-Fal-Webhook-Request-Id' => $rid2,
               'X-Fal-Webhook-User-Id' => 'u',
               'X-Fal-Webhook-Timestamp' => $ts,
               'X-Fal-Webhook-Signature' =>
                   fal_sign("$d/intruder.pem", $rid2, 'u', $ts, $body));
is($r->{status}, 200, 'one by the new key of the changed file: 200');
is($s->wait_status($id2, 3, 'succeeded', 'failed'), 'succeeded',
   '... and the job, polled at once, succeeds');

$s->finish('fal webhooks');

done_testing();
