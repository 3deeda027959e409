package PEShipped;

# The shipped stack, as an operator runs it: the five providers'
# stand-ins (or the ones asked for), a real redis-server, the real backend
# under the shipped conf/backend.conf, and the real nginx with the module
# under the shipped conf/nginx.conf in front of it.  Of the shipped
# configurations only what must move moves: addresses, paths, the
# providers' bases (to the stand-ins, or to a port nothing listens on for
# a provider not asked for) and public_url (the edge, so every media link
# a provider fetches and every callback it sends goes through nginx too).
# Models the shipped backend.conf lacks come from the test's own lines
# (extra =>), never from changing conf/.
#
#   my $s = PEShipped->new(extra => $models_text, run => 0.6);
#   my $r = $s->upload(['file', 'a.png', 'image/png', $bytes],
#                      ['model', undef, undef, 'kling-v2-1']);
#   $s->edge_get("/v1/jobs/$r->{json}{id}", $r->{user});
#
# new() options:
#   t          a PETest object to use (default: a new one)
#   extra      backend.conf lines added after the shipped ones
#   run        each stand-in's --run, or { NAME => SECONDS } (default 0.6)
#   providers  the stand-ins to start (default all five)
#   keys       provider credentials to use instead of the defaults
#   nginx      options for nginx_start (workers, error_log_level)
#   public_url the backend.conf's (default the edge; "backend": the
#              backend's own address, as scripts/run.sh has it)
#   edge_types privacy_upload_type lines ("image/avif 10m") the test adds
#              to the shipped upload location, next to the shipped ones,
#              where it has none for that type
#
# What it gives: t, dir, rport, bport, eport, edge (the edge's URL),
# sport(NAME) (a stand-in's port), provider_keys (the credentials),
# providers, bconf (the backend.conf text), bpid, check_rc and check_out
# (what privacy-backend -t said of the configuration, before it started).

use strict;
use warnings;

use Digest::SHA qw(hmac_sha256);
use JSON::PP;
use Time::HiRes qw(time sleep);

use PETest;
use PEBackend;

our @ALL = qw(fal kling replicate seedance veo);

our %KEY = (FAL_KEY => 'fal-key-SECRET-e2e-63',
            REPLICATE_API_TOKEN => $PEBackend::REPLICATE_TOKEN,
            REPLICATE_WEBHOOK_SECRET => $PEBackend::REPLICATE_WHSEC,
            KLING_ACCESS_KEY => 'kling-access-e2e-63',
            KLING_SECRET_KEY => 'kling-secret-SECRET-e2e-63',
            ARK_API_KEY => 'ark-SECRET-e2e-63',
            GEMINI_API_KEY => 'AIza-SECRET-e2e-63');

# the edge's privacy_key: the pseudonyms of the sessions are made with it
our $PRIVACY_KEY = 'k' x 32;

# each stand-in: its credential, its webhook key, its base in backend.conf
my %STANDIN = (
    fal => { key => sub { $_[0]{FAL_KEY} },
             base => qr{base=https://queue\.fal\.run\b
                        (?=\s+key_env=FAL_KEY\b)}x },
    replicate => { key => sub { $_[0]{REPLICATE_API_TOKEN} },
                   webhook_key => sub { $_[0]{REPLICATE_WEBHOOK_SECRET} },
                   base => qr{base=https://api\.replicate\.com\b} },
    kling => { key => sub { join ':', @{ $_[0] }{qw(KLING_ACCESS_KEY
                                                   KLING_SECRET_KEY)} },
               base => qr{base=https://api-singapore\.klingai\.com\b} },
    seedance => { key => sub { $_[0]{ARK_API_KEY} },
                  base => qr{base=https://ark\.ap-southeast
                             \.bytepluses\.com\b}x },
    veo => { key => sub { $_[0]{GEMINI_API_KEY} },
             base => qr{base=https://generativelanguage\.googleapis\.com\b} },
);

sub new {
    my ($class, %o) = @_;
    my $t = $o{t} // PETest->new;
    my $d = $t->dir;
    my %keys = (%KEY, %{ $o{keys} // {} });
    my @providers = sort @{ $o{providers} // \@ALL };
    my $self = bless { t => $t, d => $d, o => \%o, keys => \%keys,
                       providers => \@providers, n => 0,
                       boundary => 'alice-form-7e21' }, $class;

    $self->{rport} = $t->redis;
    for my $name (@providers) {
        my $s = $STANDIN{$name} or die "PEShipped: no stand-in $name";
        my $run = ref $o{run} ? $o{run}{$name} // 0.6 : $o{run} // 0.6;
        $self->{sport}{$name} = $t->standin($name,
            key => $s->{key}->(\%keys), run => $run,
            ($s->{webhook_key}
             ? (webhook_key => $s->{webhook_key}->(\%keys)) : ()));
    }
    $self->{bport} = $t->port('backend');
    $self->{eport} = $t->port;                     # the edge
    $self->{edge} = "http://127.0.0.1:$self->{eport}";

    mkdir "$d/spool";
    $t->write_file('privacy.key', $PRIVACY_KEY);   # the edge's privacy_key
    $t->write_file('data.key', '0123456789abcdef' x 4);
    $self->{bconf} = $self->backend_conf;
    {
        local @ENV{keys %keys} = values %keys;
        my $f = $t->write_file('check.conf', $self->{bconf});
        $self->{check_out} = `$PETest::BACKEND -t -c $f 2>&1`;
        $self->{check_rc} = $? >> 8;
        $self->{bpid} = $t->backend($self->{bconf});
    }

    # the edge: the shipped nginx.conf, its upstream the backend
    my $http = $t->shipped_http(redis => $self->{rport},
                                backend => $self->{bport});
    # the test's own upload types, those the shipped location lacks
    my @types = grep { my ($type) = split ' ';
                       $http !~ /privacy_upload_type \Q$type\E\s/ }
                @{ $o{edge_types} // [] };
    if (@types) {
        my $lines = join '', map { "            privacy_upload_type $_;\n" }
                             @types;
        $http =~ s{^(\s*privacy_upload_type image/heic [^\n]*\n)}{$1$lines}m
            or die 'conf/nginx.conf: no image/heic upload type to add to';
    }
    $t->nginx_start($http, %{ $o{nginx} // {} });
    return $self;
}

sub t { $_[0]{t} }
sub dir { $_[0]{d} }
sub rport { $_[0]{rport} }
sub bport { $_[0]{bport} }
sub eport { $_[0]{eport} }
sub edge { $_[0]{edge} }
sub sport { $_[0]{sport}{$_[1]} }
sub provider_keys { $_[0]{keys} }
sub providers { @{ $_[0]{providers} } }
sub bconf { $_[0]{bconf} }
sub bpid { $_[0]{bpid} }
sub check_rc { $_[0]{check_rc} }
sub check_out { $_[0]{check_out} }

# conf/backend.conf as an operator switches it on: the Seedance and Veo
# examples uncommented as written (if they still are comments), then every
# address, path and base moved here (as scripts/run.sh does), and nothing
# else changed; the test's own lines after it
sub backend_conf {
    my ($self) = @_;
    my ($t, $d) = ($self->{t}, $self->{d});
    my $public = $self->{o}{public_url} // $self->{edge};
    $public = "http://127.0.0.1:$self->{bport}" if $public eq q{backend};
    my $conf = $t->read_file("$PETest::TOP/conf/backend.conf")
        // die "conf/backend.conf: $!";
    my ($on, $out) = (0, '');
    for my $line (split /^/, $conf) {
        if ($line =~ /^# (provider\s+(?:seedance|veo)\s.*)/s) {
            ($on, $line) = (1, $1);
        } elsif ($on && $line =~ /^#(\s{5,}\S.*)/s) {
            $line = $1;
        } elsif ($line
                 =~ /^# (model\s+\S+\s+provider=(?:seedance|veo)\s.*)/s) {
            ($on, $line) = (0, $1);
        } else {
            $on = 0;
        }
        $out .= $line;
    }
    my @subst = (
        [qr{^listen\s+127\.0\.0\.1:9000;}m,
         "listen        127.0.0.1:$self->{bport};"],
        [qr{^redis\s+127\.0\.0\.1:6379;}m,
         "redis         127.0.0.1:$self->{rport};"],
        [qr{/var/lib/privacy-edge/spool}, "$d/spool"],
        [qr{/etc/privacy-edge/privacy\.key}, "$d/privacy.key"],
        [qr{/etc/privacy-edge/data\.key}, "$d/data.key"],
        [qr{^public_url\s+\S+;}m, "public_url    $public;"],
        # a provider without its stand-in here: a port nothing listens on
        map { [$STANDIN{$_}{base},
               'base=http://127.0.0.1:' . ($self->{sport}{$_} // 9)] }
            sort keys %STANDIN,
    );
    for my $s (@subst) {
        my ($re, $to) = @$s;
        $out =~ s/$re/$to/g
            or die "conf/backend.conf: nothing matches $re any more";
    }
    # no active line may still name a real provider or a system path
    for (split /\n/, $out) {
        next if /^\s*#/;
        die "conf/backend.conf: a line the test does not know: $_"
            if m{https://|/etc/|/var/};
    }
    return $out . ($self->{o}{extra} // '');
}

# One user per upload (her own session, her own address): the shipped
# limits allow 6 uploads a minute per user and 11 per address, and the
# tests make more than that.  Each upload carries what must go no further
# than the edge: the session and other cookies, a forwarded address, a
# user agent, and the opt-in.  The answer has json (decoded) and user
# (session, from, xff, ua, and sub, the edge's pseudonym of the session).
sub upload {
    my ($self, @parts) = @_;
    my $n = ++$self->{n};
    my %u = (session => sprintf('sess-%02d-%08x', $n, int rand 2**32),
             from => '127.0.0.' . (100 + $n),
             xff => '198.51.100.' . (100 + $n),
             ua => "Mozilla/5.0 (alice-phone-$n)");
    my $B = $self->{boundary};
    my $body = multipart_body($B, @parts);
    my $r = http($self->{eport},
                 "POST /v1/jobs HTTP/1.1\r\nHost: localhost\r\n"
                 . "CF-IPCountry: DE\r\nUser-Agent: $u{ua}\r\n"
                 . "X-Forwarded-For: $u{xff}\r\n"
                 . "Cookie: pe_consent=ai_processing:1; "
                 . "session=$u{session}; _ga=GA1.2.777.888\r\n"
                 . "Content-Type: multipart/form-data; boundary=$B\r\n"
                 . 'Content-Length: ' . length($body) . "\r\n"
                 . "Connection: close\r\n\r\n$body",
                 from => $u{from}, timeout => 15);
    $r->{json} = eval { decode_json($r->{body}) } // {};
    $r->{user} = \%u;
    # the edge's pseudonym of the session (docs/directives.md,
    # privacy_subject: HMAC-SHA256 under privacy_key, base64url)
    $u{sub} = b64url(hmac_sha256($u{session}, $PRIVACY_KEY));
    return $r;
}

# a GET through the edge as the user an upload made
sub edge_get {
    my ($self, $uri, $u) = @_;
    my $r = http($self->{eport}, "GET $uri HTTP/1.1\r\nHost: localhost\r\n"
                 . "Cookie: session=$u->{session}\r\n"
                 . "Connection: close\r\n\r\n",
                 from => $u->{from});
    $r->{json} = eval { decode_json($r->{body}) } // {};
    return $r;
}

# every request every stand-in received
sub all_requests {
    my ($self) = @_;
    return map { @{ $self->{t}->standin_requests($_) } } $self->providers;
}

# the submissions carrying a prompt, at one stand-in ($secs, 10 s, at most)
sub submission {
    my ($self, $who, $prompt, $secs) = @_;
    my $deadline = time + ($secs // 10);
    while (time < $deadline) {
        my @s = grep { $_->{method} eq 'POST'
                       && index($_->{body} // '', $prompt) >= 0 }
                @{ $self->{t}->standin_requests($who) };
        return @s if @s;
        sleep 0.05;
    }
    return ();
}

# nginx stopped, then the backend (SIGTERM): its exit status
sub stop {
    my ($self) = @_;
    $self->{t}->nginx_stop;
    return $self->{t}->stop_pid($self->{bpid}, 'TERM');
}

1;
