package PEBackend;

# What the backend's tests share: a stack of a real Redis, the provider
# stand-ins (fal always; Replicate and Kling when asked) and
# privacy-backend, contexts signed as the edge signs them, uploads, and
# ways to look at everything the backend holds.

use strict;
use warnings;

use Digest::SHA qw(hmac_sha256);
use JSON::PP;
use Time::HiRes qw(time sleep);

use PETest;

our $MODEL = 'fal-ai/kling-video/v2.1/standard/image-to-video';
our $B = 'pe-boundary-7f3a';
our $FAL_KEY = 'fal-key-SECRET-9d1c';
our $REPLICATE_MODEL = 'bytedance/seedance-1-pro';
our $REPLICATE_TOKEN = 'r8_replicate-SECRET-4b2e';
our $REPLICATE_WHSEC = 'whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD';
our $KLING_MODEL = 'kling-v2-1';
our $KLING_AK = 'kling-access-7c1d';
our $KLING_SK = 'kling-secret-SECRET-2f9a';

# PEBackend->new(retention => '...', redis => {persist => 1}, run => 0.6,
#                timeout => '30s', public_url => ..., extra => '...',
#                provider => 'region=eu', fal_webhooks => 1,
#                replicate => {run => 0.6, attrs => 'poll=60s',
#                              webhooks => 1},
#                kling => {run => 0.6, attrs => 'callbacks=on'},
#                listen => 'per_ip=8 timeout=2s')
sub new {
    my ($class, %o) = @_;
    my $t = PETest->new;
    my $d = $t->dir;
    my $self = bless { t => $t, d => $d, o => \%o }, $class;

    $self->{rport} = $t->redis(%{ $o{redis} // {} });
    if ($o{fal_webhooks}) {
        # fal's signing key, and the JWKS the backend is given
        system('openssl', 'genpkey', '-algorithm', 'ed25519', '-out',
               "$d/fal-webhook.pem") == 0 or die "openssl genpkey failed";
        my $der = `openssl pkey -in '$d/fal-webhook.pem' -pubout -outform DER`;
        $t->write_file('fal-jwks.json', encode_json({ keys => [
            { kty => 'RSA', kid => 'other', n => 'AQAB', e => 'AQAB' },
            { kty => 'OKP', crv => 'Ed25519', kid => 'standin',
              x => b64url(substr($der, -32)) } ] }));
    }
    $self->{fport} = $t->fal(key => $FAL_KEY, run => $o{run} // 0.6,
                             ($o{fal_webhooks}
                              ? (webhook_key => "$d/fal-webhook.pem") : ()));
    if (my $r = $o{replicate}) {
        $self->{rep_port} = $t->standin('replicate', key => $REPLICATE_TOKEN,
            run => $r->{run} // 0.6,
            ($r->{webhooks} ? (webhook_key => $REPLICATE_WHSEC) : ()));
    }
    if (my $k = $o{kling}) {
        $self->{kling_port} = $t->standin('kling', key => "$KLING_AK:$KLING_SK",
                                          run => $k->{run} // 0.6);
    }
    $self->{bport} = $t->port('backend');

    mkdir "$d/spool";
    $self->{ckey} = 'c' x 32;
    $t->write_file('context.key', $self->{ckey});
    $t->write_file('data.key', '0123456789abcdef' x 4);

    $self->start;
    return $self;
}

sub t { $_[0]{t} }
sub dir { $_[0]{d} }
sub rport { $_[0]{rport} }
sub bport { $_[0]{bport} }
sub fport { $_[0]{fport} }

sub conf {
    my ($self) = @_;
    my ($d, $o) = ($self->{d}, $self->{o});
    my $retention = $o->{retention}
        // 'upload=0 output=24h record=30d prompt=0';
    my $public = $o->{public_url} // "http://127.0.0.1:$self->{bport}";
    my $timeout = $o->{timeout} // '30s';
    my $pextra = $o->{provider} // '';
    $pextra .= " webhook_jwks=$d/fal-jwks.json" if $o->{fal_webhooks};
    my $more = '';
    if (my $r = $o->{replicate}) {
        $more .= "provider replicate base=http://127.0.0.1:$self->{rep_port} "
               . "key_env=PE_TEST_REPLICATE_TOKEN timeout=$timeout "
               . ($r->{webhooks}
                  ? 'webhook_secret_env=PE_TEST_REPLICATE_WHSEC ' : '')
               . ($r->{attrs} // '') . ";\n"
               . "model \"$REPLICATE_MODEL\" provider=replicate;\n";
    }
    if (my $k = $o->{kling}) {
        $more .= "provider kling base=http://127.0.0.1:$self->{kling_port} "
               . "access_key_env=PE_TEST_KLING_AK "
               . "secret_key_env=PE_TEST_KLING_SK timeout=$timeout "
               . ($k->{attrs} // '') . ";\n"
               . "model \"$KLING_MODEL\" provider=kling;\n";
    }
    return <<"CONF" . $more . ($o->{extra} // '');
listen        127.0.0.1:$self->{bport} @{[ $o->{listen} // '' ]};
redis         127.0.0.1:$self->{rport};
spool         $d/spool;
context_key   $d/context.key;
data_key      $d/data.key;
public_url    $public;
retention     $retention;
provider      fal base=http://127.0.0.1:$self->{fport} key_env=PE_TEST_FAL_KEY timeout=$timeout $pextra;
model         "$MODEL" provider=fal;
CONF
}

sub start {
    my ($self) = @_;
    local $ENV{PE_TEST_FAL_KEY} = $FAL_KEY;
    local $ENV{PE_TEST_REPLICATE_TOKEN} = $REPLICATE_TOKEN;
    local $ENV{PE_TEST_REPLICATE_WHSEC} = $REPLICATE_WHSEC;
    local $ENV{PE_TEST_KLING_AK} = $KLING_AK;
    local $ENV{PE_TEST_KLING_SK} = $KLING_SK;
    $self->{pid} = $self->{t}->backend($self->conf);
    return $self->{pid};
}

sub stop {
    my ($self, $sig) = @_;
    $self->{t}->stop_pid($self->{pid}, $sig // 'TERM');
}

# stops the backend with SIGTERM and checks what it left in its log: no
# sanitizer report (the ASan pass of make test), a clean exit
sub finish {
    my ($self, $what) = @_;
    my $status = $self->stop('TERM');
    my $log = $self->{t}->read_file('backend.log') // '';
    Test::More::unlike($log, qr/Sanitizer|runtime error:/,
                       "$what: no sanitizer report");
    # a media link is a capability: the log names none
    Test::More::unlike($log, qr{/v1/media/[^*\s"'?]},
                       "$what: no media link in the log");
    Test::More::is($status >> 8, 0, "$what: the backend exits cleanly");
}

# a context as the edge signs it: a jti of its own each time, as the
# edge's is the request's id
my $jti = 0;
sub context {
    my ($self, %c) = @_;
    my $now = time;
    my %claims = (sub => 'subject-alice-0000000000000000000000000000',
                  reg => 'DE', grp => 'eea',
                  con => ['necessary', 'ai_processing'],
                  gpc => JSON::PP::false,
                  iat => int($now), exp => int($now) + 60,
                  jti => "r$$-" . ++$jti, %c);
    my $key = delete $claims{key} // $self->{ckey};
    my $h = b64url('{"alg":"HS256","typ":"JWT"}');
    my $p = b64url(JSON::PP->new->canonical->encode(\%claims));
    return "$h.$p." . b64url(hmac_sha256("$h.$p", $key));
}

# POST /v1/jobs; parts default to an image, a prompt, the model, params
sub upload {
    my ($self, %o) = @_;
    my @parts = @{ $o{parts} // [
        ['file', 'cat.png', $o{type} // 'image/png', $o{file}],
        ['prompt', undef, undef, $o{prompt} // 'a cat surfing'],
        ['model', undef, undef, $o{model} // $MODEL],
        ['params', undef, undef, $o{params} // '{"duration":"5"}'],
    ] };
    my %h = ('Content-Type' => "multipart/form-data; boundary=$B");
    $h{'Privacy-Context'} = $o{context} if defined $o{context};
    my $r = http_post($o{port} // $self->{bport}, '/v1/jobs',
                      multipart_body($B, @parts), %h, %{ $o{headers} // {} });
    $r->{json} = eval { decode_json($r->{body}) } // {};
    return $r;
}

sub get {
    my ($self, $uri, $ctx) = @_;
    my $r = http_get($self->{bport}, $uri,
                     defined $ctx ? ('Privacy-Context' => $ctx) : ());
    $r->{json} = eval { decode_json($r->{body}) } // {};
    return $r;
}

sub delete {
    my ($self, $uri, $ctx) = @_;
    my $h = defined $ctx ? "Privacy-Context: $ctx\r\n" : '';
    my $r = http($self->{bport}, "DELETE $uri HTTP/1.1\r\nHost: localhost\r\n"
                                 . "${h}Connection: close\r\n\r\n");
    $r->{json} = eval { decode_json($r->{body}) } // {};
    return $r;
}

# the job's record, raw, from Redis
sub record {
    my ($self, $id) = @_;
    return { @{ $self->{t}->redis_query($self->{rport},
                                        ['HGETALL', "pe:job:$id"]) // [] } };
}

# waits until the job's status is one of @want (record in Redis); returns it
# the provider's id of a job once the provider has it (5 s at most), or ''
sub remote_id {
    my ($self, $id) = @_;
    for (1 .. 100) {
        my $rid = $self->record($id)->{remote_id};
        return $rid if $rid;
        sleep 0.05;
    }
    return '';
}

sub wait_status {
    my ($self, $id, $secs, @want) = @_;
    my $deadline = time + $secs;
    my %want = map { $_ => 1 } @want;
    my $st = '';
    while (time < $deadline) {
        $st = $self->record($id)->{status} // '';
        return $st if $want{$st};
        sleep 0.05;
    }
    return $st;
}

sub spool_files {
    my ($self) = @_;
    return sort map { s{.*/}{}r } glob("$self->{d}/spool/*");
}

# every key in Redis with its value, one per line
sub redis_dump {
    my ($self) = @_;
    return redis_dump_of($self->{t}, $self->{rport});
}

sub redis_dump_of {
    my ($t, $p) = @_;
    my $keys = $t->redis_query($p, ['KEYS', '*']) // [];
    my $all = '';
    for my $k (sort @$keys) {
        my $type = $t->redis_query($p, ['TYPE', $k]);
        my $v = $type eq 'hash' ? $t->redis_query($p, ['HGETALL', $k])
              : $type eq 'set' ? $t->redis_query($p, ['SMEMBERS', $k])
              : $type eq 'zset' ? $t->redis_query($p, ['ZRANGE', $k, 0, -1])
              : $type eq 'stream' ? $t->redis_query($p,
                                                    ['XRANGE', $k, '-', '+'])
              : $t->redis_query($p, ['GET', $k]);
        $all .= "$k " . JSON::PP->new->canonical->allow_nonref->encode($v)
                . "\n";
    }
    return $all;
}

# the edge in front of a backend: the opt-in, the pseudonym of X-Account,
# the signed context on every /v1/ request
sub edge_conf {
    my ($dir, $bport) = @_;
    return <<"EOF";
    privacy_key $dir/context.key;
    privacy_consent_category ai_processing explicit;
    privacy_consent_cookie pe_consent kv;
    privacy_subject \$http_x_account;

    server {
        listen 127.0.0.1:%%PORT%%;
        client_max_body_size 20m;

        location /v1/ {
            privacy_require ai_processing;
            proxy_set_header Privacy-Context \$privacy_context;
            proxy_pass http://127.0.0.1:$bport;
        }
    }
EOF
}

1;
