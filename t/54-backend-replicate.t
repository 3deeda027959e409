#!/usr/bin/perl

# Replicate, end to end through the edge, the backend, Redis and
# a stand-in speaking Replicate's predictions API: a job is created, its
# completion arrives by a webhook signed as Replicate signs them (Standard
# Webhooks), and the job is polled only because of it (the fallback poll
# is a minute away); webhooks wrongly signed, stale, replayed, about
# another job or of another provider change nothing; a believed webhook is
# only a hint (its body is not taken for the state); cancel; 429 and 5xx;
# a model pinned to a version.

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(hmac_sha256 sha256_hex);
use JSON::PP;
use MIME::Base64 qw(decode_base64 encode_base64);
use Time::HiRes qw(time sleep);

use lib 't/lib';
use PETest;
use PEBackend;

my $RUN = 6;
my $VERSIONED = 'bytedance/seedance-1-pro:5fe0a3b1c2d4';
my $s = PEBackend->new(
    replicate => { run => $RUN, webhooks => 1, attrs => 'poll=60s' },
    extra => qq(model "$VERSIONED" provider=replicate;\n));
my $t = $s->t;
my $d = $s->dir;
my $bport = $s->bport;
my $MODEL = $PEBackend::REPLICATE_MODEL;

my $png = sample('png', 30000);
my $alice = $s->context;

sub creates {
    return grep { $_->{method} eq 'POST' && $_->{uri} !~ /cancel/ }
           @{ $t->standin_requests('replicate') };
}

sub gets_of {
    my ($rid) = @_;
    return scalar grep { $_->{method} eq 'GET'
                         && $_->{uri} eq "/v1/predictions/$rid" }
                  @{ $t->standin_requests('replicate') };
}

# --- through the edge: created, completed by the webhook ---------------------

$t->nginx_start(PEBackend::edge_conf($d, $bport));
my %h = (Cookie => 'pe_consent=ai_processing:1; session=COOKIE-SECRET',
         'X-Account' => 'erin@example.com',
         'X-Forwarded-For' => '203.0.113.7');
my $t0 = time;
my $r = $s->upload(port => $t->port, file => $png, model => $MODEL,
                   prompt => 'a heron PROMPT-SECRET-54', headers => \%h);
is($r->{status}, 202, 'through the edge: 202') or diag($r->{raw});
my $id = $r->{json}{id} // 'none';

is($s->wait_status($id, $RUN + 6, 'succeeded', 'failed'), 'succeeded',
   'the job succeeds');
my $took = time - $t0;
ok($took < $RUN + 4, sprintf('... in %.1f s, with the fallback poll a '
                             . 'minute away: the webhook woke it', $took));
my $rec = $s->record($id);
like($rec->{output} // '',
     qr{^https://replicate\.delivery/standin/[a-z0-9]+/output\.mp4$},
     '... with the prediction\'s output');

my @c = creates();
is(scalar @c, 1, 'one prediction was created');
is($c[0]{uri}, "/v1/models/$MODEL/predictions",
   '... at the model\'s predictions endpoint');
is($c[0]{headers}{authorization}, "Bearer $PEBackend::REPLICATE_TOKEN",
   '... with the API token as a bearer');
my $body = decode_json($c[0]{body});
is_deeply([sort keys %$body], [qw(input webhook webhook_events_filter)],
          '... the body: input, webhook, its filter, nothing else');
is_deeply([sort keys %{ $body->{input} }], [qw(duration image prompt)],
          '... the input: the parameters, the prompt, the image');
is($body->{input}{prompt}, 'a heron PROMPT-SECRET-54', '... the prompt');
like($body->{input}{image}, qr{^data:image/png;base64,},
     '... the image inline, as a data URI');
is($body->{webhook},
   "http://127.0.0.1:$bport/v1/providers/replicate/webhook?job=$id",
   '... the webhook names the backend\'s route and the job');
is_deeply($body->{webhook_events_filter}, ['completed'],
          '... completed events only');
my ($job) = values %{ $t->standin_jobs('replicate') };
is($job->{fetched}{inline}{sha256}, sha256_hex($png),
   '... the image arrived byte for byte');
my $sent = join "\n", map { JSON::PP->new->canonical->encode($_) }
                      @{ $t->standin_requests('replicate') };
unlike($sent, qr/COOKIE-SECRET|erin|203\.0\.113\.7|pe_consent|
                 privacy-context|subject-/xi,
       'Replicate got no cookie, account, address, context or subject');

my @cb = @{ $t->standin_callbacks('replicate') };
is(scalar @cb, 1, 'the stand-in sent one webhook');
is($cb[0]{status}, 200, '... and the backend took it (200)');
ok($cb[0]{headers}{'webhook-signature'} =~ /^v1,/
   && $cb[0]{headers}{'webhook-id'} =~ /^msg_/,
   '... signed as Replicate signs them');
$t->nginx_stop;

# --- what a webhook must be to be believed -----------------------------------

# a job in flight for a while: the webhooks below are about it
$r = $s->upload(context => $alice, file => $png, model => $MODEL,
                prompt => 'a slow one');
my $jid = $r->{json}{id} // 'none';
my $rid = $s->remote_id($jid);
like($rid, qr/^[a-z0-9]{26}$/, 'a second job is at Replicate');
sleep 0.3;

my $hook = "/v1/providers/replicate/webhook?job=$jid";

sub sign {
    my ($secret, $msg_id, $ts, $payload) = @_;
    (my $k = $secret) =~ s/^whsec_//;
    return 'v1,' . encode_base64(hmac_sha256("$msg_id.$ts.$payload",
                                             decode_base64($k)), '');
}

my $n = 0;
sub webhook {
    my (%o) = @_;
    my $payload = $o{body} // encode_json({ id => $o{rid} // $rid,
                                            status => 'succeeded',
                                            output => ['https://evil.example/x.mp4'] });
    my $msg_id = $o{msg_id} // 'msg_test' . ++$n;
    my $ts = $o{ts} // int(time);
    my %hd = ('webhook-id' => $msg_id, 'webhook-timestamp' => $ts,
              'webhook-signature' => $o{sig}
                  // sign($o{secret} // $PEBackend::REPLICATE_WHSEC,
                          $msg_id, $ts, $payload),
              'Content-Type' => 'application/json');
    delete @hd{qw(webhook-id webhook-timestamp webhook-signature)}
        if $o{unsigned};
    my $res = http_post($bport, $o{uri} // $hook, $payload, %hd);
    $res->{json} = eval { decode_json($res->{body}) } // {};
    return $res;
}

# and a job of another provider's
my $fal_job = $s->upload(context => $s->context, file => $png,
                         prompt => 'a fal job')->{json}{id} // 'none';

my $gets = gets_of($rid);
my @refused = (
    [ { unsigned => 1 }, 401, 'signature', 'no signature headers' ],
    [ { secret => 'whsec_' . encode_base64('x' x 24, '') }, 401,
      'signature', 'signed with another secret' ],
    [ { sig => 'v1,' . encode_base64('y' x 32, '') }, 401, 'signature',
      'a forged signature' ],
    [ { ts => int(time) - 400 }, 401, 'signature',
      'rightly signed but 400 s old' ],
    [ { rid => 'abcdefghijklmnopqrstuvwxyz' }, 404, 'not_found',
      'rightly signed, about another prediction' ],
    [ { uri => '/v1/providers/replicate/webhook?job='
               . ('0' x 32) }, 404, 'not_found', 'for a job that does not exist' ],
    [ { uri => '/v1/providers/replicate/webhook' }, 404, 'not_found',
      'naming no job' ],
    [ { uri => "/v1/providers/replicate/webhook?job=$fal_job" }, 404,
      'not_found', 'rightly signed, naming a job of another provider' ],
    [ { uri => "/v1/providers/fal/webhook?job=$jid" }, 404, 'not_found',
      'at the route of a provider without webhooks' ],
    [ { uri => "/v1/providers/kling/webhook?job=$jid" }, 404, 'not_found',
      'at the route of a provider not configured' ],
    [ { body => 'not json' }, 400, 'bad_request', 'rightly signed, not JSON' ],
);
for my $c (@refused) {
    my ($o, $status, $error, $name) = @$c;
    my $res = webhook(%$o);
    is($res->{status}, $status, "a webhook $name: $status");
    is($res->{json}{error}, $error, "... \"$error\"");
}
like(webhook(ts => int(time) - 400)->{json}{reason} // '',
     qr/outside 300 s/, 'a stale one is told why');
sleep 1;
is(gets_of($rid), $gets, 'none of them made the backend poll');
is($s->record($jid)->{status}, 'submitted',
   '... and the job is as it was');

# a genuine one is a hint: the job is polled, its body is not believed
my $genuine = webhook(msg_id => 'msg_genuine');
is($genuine->{status}, 200, 'a genuine webhook: 200');
is($genuine->{json}{accepted}, JSON::PP::true, '... accepted');
my $polled = 0;
for (1 .. 40) {
    last if ($polled = gets_of($rid) > $gets);
    sleep 0.05;
}
ok($polled, '... the job is polled at once');
sleep 0.3;
isnt($s->record($jid)->{status}, 'succeeded',
     '... and its body ("succeeded", an output) is not taken for the '
     . 'state: the poll says it is still running');
unlike($s->record($jid)->{output} // '', qr/evil/, '... nor its output');

$gets = gets_of($rid);
my $again = webhook(msg_id => 'msg_genuine');
is($again->{status}, 409, 'the same message again: 409');
is($again->{json}{error}, 'replayed', '... "replayed"');
sleep 0.5;
is(gets_of($rid), $gets, '... and no poll');

is($s->wait_status($jid, $RUN + 6, 'succeeded', 'failed'), 'succeeded',
   'the job succeeds when Replicate\'s own webhook comes');

# --- cancel ------------------------------------------------------------------

$r = $s->upload(context => $s->context, file => $png, model => $MODEL,
                prompt => 'to be canceled');
my $cid = $r->{json}{id} // 'none';
my $crid = $s->remote_id($cid);
is($s->delete("/v1/jobs/$cid", $s->context)->{status}, 200,
   'DELETE of a running job: 200');
my $canceled;
for (1 .. 100) {
    ($canceled) = grep { $_->{method} eq 'POST'
                         && $_->{uri} eq "/v1/predictions/$crid/cancel" }
                  @{ $t->standin_requests('replicate') };
    last if $canceled;
    sleep 0.05;
}
ok($canceled, '... Replicate is asked to cancel the prediction');
is($canceled->{headers}{authorization}, "Bearer $PEBackend::REPLICATE_TOKEN",
   '... with the token');
sleep 0.3;
is($t->standin_jobs('replicate')->{$crid}{canceled}, 1,
   '... and it is canceled there');

# --- 429, 5xx, a refusal, a failure, a version --------------------------------

$t->standin_faults('replicate', 'create 429 1', 'create 503');
my $mark = scalar creates();
$r = $s->upload(context => $s->context, file => $png, model => $MODEL,
                prompt => 'after a 429 and a 503');
my $fid = $r->{json}{id} // 'none';
my $st = $s->wait_status($fid, 30, 'submitted', 'running', 'succeeded',
                         'failed');
ok($st =~ /^(?:submitted|running|succeeded)$/,
   "429 (Retry-After 1) then 503, then created: $st");
is(scalar(creates()) - $mark, 3, '... three requests');
is(scalar(keys %{ $t->standin_jobs('replicate') }), 4,
   '... one prediction more');

$r = $s->upload(context => $s->context, file => $png, model => $MODEL,
                params => '{"duration":"5","image":"https://evil.example/"}',
                prompt => 'FAIL-ME please');
my $xid = $r->{json}{id} // 'none';
is($s->wait_status($xid, $RUN + 8, 'failed', 'succeeded'), 'failed',
   'a prediction that fails: the job fails');
like($s->get("/v1/jobs/$xid", $alice)->{json}{reason} // '',
     qr/the model refused the input/, '... with Replicate\'s error');
my ($xc) = grep { decode_json($_->{body})->{input}{prompt} eq 'FAIL-ME please' }
           creates();
like(decode_json($xc->{body})->{input}{image}, qr/^data:/,
     '... and a parameter could not stand in for the image');

$t->standin_faults('replicate', 'create 422');
$r = $s->upload(context => $s->context, file => $png, model => $MODEL,
                prompt => 'refused');
my $rfid = $r->{json}{id} // 'none';
is($s->wait_status($rfid, 10, 'failed', 'succeeded'), 'failed',
   'a 422 from Replicate: the job fails at once');
like($s->record($rfid)->{reason} // '', qr/^provider 422: injected 422/,
     '... with Replicate\'s detail');

$mark = scalar creates();
$r = $s->upload(context => $s->context, file => $png, model => $VERSIONED,
                prompt => 'pinned');
my $vid = $r->{json}{id} // 'none';
ok($s->wait_status($vid, 10, 'submitted', 'running', 'succeeded')
   =~ /^(?:submitted|running|succeeded)$/, 'a model pinned to a version');
my ($vc) = (creates())[$mark];
is($vc->{uri}, '/v1/predictions', '... goes to /v1/predictions');
is(decode_json($vc->{body})->{version}, '5fe0a3b1c2d4',
   '... with the version');

my $log = $t->read_file('backend.log') // '';
unlike($log, qr/\Q$PEBackend::REPLICATE_TOKEN\E|\Q$PEBackend::REPLICATE_WHSEC\E|
                PROMPT-SECRET/x,
       'no token, webhook secret or prompt in the log');

$s->finish('replicate');

done_testing();
