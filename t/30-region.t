#!/usr/bin/perl

# Region: CDN geo headers believed only from trusted peers (judged before
# realip rewrites the address), every subdivision shape, groups, the most
# specific policy, block with 451, unknown as the strictest, and hostile
# header values.

use strict;
use warnings;

use Test::More;
use JSON::PP ();

use lib 't/lib';
use PETest;

my $t = PETest->new;
$t->upstream('app');

my $vars = 'region=$privacy_region group=$privacy_region_group '
         . 'consent=$privacy_consent gpc=$privacy_gpc';

$t->nginx_start(<<"EOF");
    privacy_region_group nordics SE NO DK FI IS;

    server {
        listen 127.0.0.1:%%PORT%%;

        privacy_region \$http_cf_ipcountry \$http_cf_region_code;
        privacy_region_policy eea opt-in;
        privacy_region_policy nordics opt-out;
        privacy_region_policy uk opt-in;
        privacy_region_policy us_privacy_states opt-out gpc;
        privacy_region_policy US-TX block;
        privacy_region_policy KP block;
        privacy_region_policy DE opt-out;
        privacy_region_policy default opt-out gpc;

        location /vars {
            return 200 "$vars\\n";
        }

        location / {
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }
    }

    # a server whose CDN is only in 10.0.0.0/8: loopback is not trusted
    server {
        listen 127.0.0.1:%%PORT_untrusted%%;

        privacy_region_trust 10.0.0.0/8;
        privacy_region \$http_cf_ipcountry;
        privacy_region_policy default opt-out;

        location / {
            return 200 "$vars\\n";
        }
    }

    # behind realip: X-Forwarded-For says 10.1.2.3, the TCP peer is
    # 127.0.0.1, which this server does not trust
    server {
        listen 127.0.0.1:%%PORT_realip%%;

        set_real_ip_from 127.0.0.1;
        real_ip_header X-Forwarded-For;
        privacy_region_trust 10.0.0.0/8;
        privacy_region \$http_cf_ipcountry;
        privacy_region_policy default opt-out;

        location / {
            return 200 "$vars addr=\$remote_addr\\n";
        }
    }

    # behind realip, loopback trusted: the region stands, and the address
    # logged is the client's, anonymised
    server {
        listen 127.0.0.1:%%PORT_realip_ok%%;

        set_real_ip_from 127.0.0.1;
        real_ip_header X-Forwarded-For;
        privacy_region \$http_cf_ipcountry;
        privacy_region_policy default opt-out;

        location / {
            return 200 "$vars addr=\$remote_addr anon=\$privacy_remote_addr_anon\\n";
        }
    }
EOF

my $port = $t->port;

sub vars {
    my ($port, %h) = @_;
    my $r = http_get($port, '/vars', %h);
    return $r->{body} =~ s/\n$//r;
}

my $all = 'necessary,preferences,analytics,marketing';

is(vars($port, 'CF-IPCountry' => 'DE'),
   "region=DE group=eea consent=$all gpc=0",
   'DE: the country beats its group (eea opt-in, DE opt-out)');
is(vars($port, 'CF-IPCountry' => 'FR'),
   'region=FR group=eea consent=necessary gpc=0',
   'FR: eea, opt-in, no consent: necessary only');
is(vars($port, 'CF-IPCountry' => 'fr'),
   'region=FR group=eea consent=necessary gpc=0', 'lower case fr');
is(vars($port, 'CF-IPCountry' => 'SE'),
   'region=SE group=eea consent=necessary gpc=0',
   'SE, in eea (opt-in) and nordics (opt-out): the stricter applies');
is(vars($port, 'CF-IPCountry' => 'IS'),
   'region=IS group=eea consent=necessary gpc=0', 'IS likewise');
is(vars($port, 'CF-IPCountry' => 'GB'),
   'region=GB group=uk consent=necessary gpc=0', 'GB: uk, opt-in');

for my $shape ('CA', 'US-CA', 'USCA', 'us-ca') {
    is(vars($port, 'CF-IPCountry' => 'US', 'CF-Region-Code' => $shape),
       "region=US-CA group=us_privacy_states consent=$all gpc=0",
       "subdivision $shape: US-CA, a US privacy state, opt-out");
}

is(vars($port, 'CF-IPCountry' => 'US', 'CF-Region-Code' => 'CA',
        'Sec-GPC' => '1'),
   'region=US-CA group=us_privacy_states '
   . 'consent=necessary,preferences,analytics gpc=1',
   'US-CA with Sec-GPC: 1: marketing refused');
is(vars($port, 'CF-IPCountry' => 'US', 'CF-Region-Code' => 'CA',
        'Sec-GPC' => 'true'),
   "region=US-CA group=us_privacy_states consent=$all gpc=0",
   'Sec-GPC: true is not GPC (exactly "1")');
my $two = http($port, "GET /vars HTTP/1.1\r\nHost: x\r\nCF-IPCountry: US\r\n"
                    . "CF-Region-Code: CA\r\nSec-GPC: 1\r\nSec-GPC: 0\r\n"
                    . "Connection: close\r\n\r\n");
like($two->{body}, qr/gpc=0$/m,
     'two Sec-GPC headers, one not "1": no GPC');
is(vars($port, 'CF-IPCountry' => 'US', 'CF-Region-Code' => 'WA'),
   "region=US-WA group= consent=$all gpc=0",
   'US-WA: no group, the default');
is(vars($port, 'CF-IPCountry' => 'US', 'CF-Region-Code' => 'DE-BY'),
   "region=US group= consent=$all gpc=0",
   "another country's subdivision is passed over");

for my $bad ('XX', 'T1', '', 'DEU', "\xff\xfe", "D\xc3\xa9", 'D E',
             'A' x 5000)
{
    (my $shown = $bad) =~ s/([^\x20-\x7e])/sprintf('\\x%02x', ord $1)/ge;
    $shown = substr($shown, 0, 12);
    is(vars($port, 'CF-IPCountry' => $bad),
       'region=unknown group=unknown consent=necessary gpc=0',
       "CF-IPCountry '$shown': unknown, the strictest");
}

# what is a country comes from Debian's iso-codes (a list we did not
# write): each of the 676 two-letter codes is a region exactly when ISO
# 3166-1 assigns it; reserved ones (EU, UK, AP) and user-assigned ones
# (ZZ, QQ, XK) are unknown, the strictest
my $iso = '/usr/share/iso-codes/json/iso_3166-1.json';
open(my $fh, '<', $iso) or die "$iso: $! (apt-get install iso-codes)";
my %assigned = map { $_->{alpha_2} => 1 }
               @{ JSON::PP::decode_json(do { local $/; <$fh> })->{'3166-1'} };
close $fh;
cmp_ok(scalar keys %assigned, '>=', 249, 'iso-codes lists the countries');

my (@wrong, $regions);
for my $a ('A' .. 'Z') {
    for my $b ('A' .. 'Z') {
        my $got = vars($port, 'CF-IPCountry' => "$a$b");
        my ($region) = $got =~ /^region=(\S+)/;
        my $want = $assigned{"$a$b"} ? "$a$b" : 'unknown';
        $regions++ if $region ne 'unknown';
        push @wrong, "$a$b: $region" if $region ne $want;
        # an unknown region gets the strictest policy, not the default
        push @wrong, "$a$b: $got" if $region eq 'unknown'
            && $got ne 'region=unknown group=unknown consent=necessary gpc=0';
    }
}
is(scalar @wrong, 0, "676 codes: a region exactly when ISO 3166-1 assigns "
   . "it ($regions regions)") or diag(join("\n", @wrong[0 .. 9]));

for my $code ('EU', 'AP', 'ZZ', 'QQ', 'UK', 'XK', 'A1', 'A2', 'O1', 'DEU',
              'USA')
{
    is(vars($port, 'CF-IPCountry' => $code),
       'region=unknown group=unknown consent=necessary gpc=0',
       "$code: unknown, the strictest (not the default opt-out)");
}

# blocked regions: 451 with the reason; the upstream sees nothing
my $mark = $t->upstream_mark('app');
my $r = http_get($port, '/', 'CF-IPCountry' => 'US', 'CF-Region-Code' => 'TX');
is($r->{status}, 451, 'US-TX: 451');
is($r->{body}, qq({"error":"region_blocked","region":"US-TX"}\n),
   '... region_blocked, naming the region');
is($r->{headers}{'privacy-reason'}, 'region_blocked', '... Privacy-Reason');
$r = http_get($port, '/', 'CF-IPCountry' => 'KP');
is($r->{status}, 451, 'KP: 451');
$r = http_get($port, '/', 'CF-IPCountry' => 'US', 'CF-Region-Code' => 'NV');
is($r->{status}, 200, 'US-NV: passes');
my @seen = $t->upstream_since($mark, 'app');
is(scalar @seen, 1, 'the upstream saw only the request that passed');

# untrusted peers
is(vars($t->port('untrusted'), 'CF-IPCountry' => 'DE'),
   'region=unknown group=unknown consent=necessary gpc=0',
   'an untrusted peer: the header is not believed');
is(vars($t->port('realip'), 'CF-IPCountry' => 'DE',
        'X-Forwarded-For' => '10.1.2.3'),
   'region=unknown group=unknown consent=necessary gpc=0 addr=10.1.2.3',
   'behind realip: the TCP peer decides, not the address realip set');
is(vars($t->port('realip_ok'), 'CF-IPCountry' => 'DE',
        'X-Forwarded-For' => '203.0.113.77'),
   "region=DE group=eea consent=$all gpc=0 addr=203.0.113.77 "
   . 'anon=203.0.113.0',
   'a trusted peer behind realip: believed; the address cut to /24');

$t->nginx_stop;

done_testing();
