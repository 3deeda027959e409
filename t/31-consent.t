#!/usr/bin/perl

# Consent: each CMP format granted and refused, the published TCF strings,
# the first present cookie wins, opt-in and opt-out, privacy_require (also
# in limit_except, and under "satisfy any"), and hostile cookies that must
# grant nothing, crash nothing and cost bounded time.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);

use lib 't/lib';
use PETest;

my $t = PETest->new;
$t->upstream('app');

$t->nginx_start(<<'EOF');
    privacy_consent_category ai_processing explicit;
    privacy_consent_category product_news;
    large_client_header_buffers 4 32k;

    server {
        listen 127.0.0.1:%%PORT%%;

        privacy_region $http_cf_ipcountry $http_cf_region_code;
        privacy_region_policy eea opt-in;
        privacy_region_policy us_privacy_states opt-out gpc;
        privacy_region_policy unknown opt-in;

        privacy_consent_cookie euconsent-v2 tcf;
        privacy_consent_cookie OptanonConsent onetrust;
        privacy_consent_cookie CookieConsent cookiebot;
        privacy_consent_cookie cookieyes-consent cookieyes;
        privacy_consent_cookie __gpp gpp sid=__gpp_sid;
        privacy_consent_cookie pe_consent kv;

        location /consent {
            return 200 "$privacy_consent\n";
        }

        location /jobs {
            privacy_require ai_processing;
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }

        location /ads {
            privacy_require marketing analytics status=451;
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }

        # a user who withdrew consent can still see and delete their data
        location /my-data {
            limit_except GET DELETE {
                privacy_require ai_processing;
            }
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }

        # "satisfy any" with an allow that matches: consent still holds
        location /any {
            satisfy any;
            allow 127.0.0.1;
            deny all;
            privacy_require ai_processing;
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }
    }
EOF

my $port = $t->port;
my $all = 'necessary,preferences,analytics,marketing';

sub consent {
    my ($cookie, %h) = @_;
    $h{'CF-IPCountry'} //= 'DE';
    $h{Cookie} = $cookie if defined $cookie;
    my $r = http_get($port, '/consent', %h);
    return $r->{body} =~ s/\n$//r;
}

# TCF
my $accept = tcf_string(purposes => [1 .. 10]);
my $reject = tcf_string(purposes => []);
is(consent("euconsent-v2=$accept"), $all, 'TCF 2.2 accept-all: all');
is(consent("euconsent-v2=$reject"), 'necessary', 'TCF 2.2 reject-all');
is(consent('euconsent-v2=' . tcf_string(purposes => [1, 8, 9])),
   'necessary,analytics', 'TCF purposes 1, 8, 9: analytics');
is(consent('euconsent-v2=' . tcf_string(purposes => [2 .. 10])),
   'necessary', 'TCF without purpose 1 (storage): nothing');
is(consent('euconsent-v2=' . tcf_string(purposes => [1 .. 10], policy => 2)),
   'necessary', 'TCF 2.0 (policy 2): no consent under 2.2');
is(consent('euconsent-v2=' . tcf_string(purposes => [1 .. 10],
                                        service_specific => 0)),
   'necessary', 'TCF global-scope string: no consent');
is(consent('euconsent-v2=COtybn4PA_zT4KjACBENAPCIAEBAAECAAIAAAAAAAAAA'),
   'necessary', "the IAB's published example (CMP 675, TCF 2.0): none");
is(consent("euconsent-v2=$accept.YAAAAAAAAAAA"), $all,
   'a disclosed-vendors segment after the core is passed over');
is(consent('euconsent-v2=' . substr($accept, 0, 30)), 'necessary',
   'a truncated TC string: none');

# OneTrust
is(consent('OptanonConsent=isGpcEnabled=0&datestamp=Mon+Nov+20+2023&groups='
           . 'C0001%3A1%2CC0002%3A0%2CC0003%3A1%2CC0004%3A0&'
           . 'AwaitingReconsent=false'),
   'necessary,preferences', 'OneTrust: C0003 granted, C0002 and C0004 not');
is(consent('OptanonConsent=groups=C0001%3A1%2CC0002%3A1%2CC0003%3A1%2C'
           . 'C0004%3A1%2CC0005%3A1'), $all, 'OneTrust: all groups');
is(consent('OptanonConsent="groups=C0002%3A1"'), 'necessary,analytics',
   'a quoted cookie value');

# Cookiebot, CookieYes, kv
is(consent("CookieConsent={stamp:%27abc%27%2Cnecessary:true%2Cpreferences:"
           . "false%2Cstatistics:true%2Cmarketing:false%2Cver:1}"),
   'necessary,analytics', 'Cookiebot: statistics -> analytics');
is(consent('CookieConsent=-1'), 'necessary', 'Cookiebot -1: none');
is(consent('cookieyes-consent=consentid:x,consent:yes,necessary:yes,'
           . 'functional:no,analytics:yes,performance:yes,'
           . 'advertisement:yes'),
   'necessary,analytics,marketing', 'CookieYes');
is(consent('pe_consent=ai_processing:1,analytics:yes'),
   'necessary,analytics,ai_processing', 'kv with a custom category');

# each worker keeps parsed values: two of the same length, opposite
# answers, alternated on the one worker, must each keep their own answer
my $right = 0;
for my $i (1 .. 10) {
    $right++ if consent('pe_consent=analytics:1') eq 'necessary,analytics';
    $right++ if consent('pe_consent=analytics:0') eq 'necessary';
    $right++ if consent("euconsent-v2=$accept") eq $all;
    $right++ if consent("euconsent-v2=$reject") eq 'necessary';
}
is($right, 40, 'cached consent values never answer for one another');

# the first present cookie in the configured order wins
is(consent("OptanonConsent=groups=C0002%3A1; euconsent-v2=$reject"),
   'necessary', 'both present: euconsent-v2 (configured first) decides');
is(consent('OptanonConsent=groups=C0002%3A1; other=1'),
   'necessary,analytics', 'only OneTrust present: it decides');

# each category is decided by the first present cookie that speaks of it
is(consent("euconsent-v2=$reject; pe_consent=ai_processing:1"),
   'necessary,ai_processing',
   'TCF reject-all and the first-party opt-in: they combine');
is(consent("pe_consent=analytics:0,ai_processing:1; euconsent-v2=$accept"),
   "$all,ai_processing",
   'TCF (configured first) decides analytics, kv only ai_processing');
is(consent('euconsent-v2=CQujIwAQ; pe_consent=ai_processing:1,marketing:1'),
   'necessary,ai_processing',
   'a broken TC string refuses the four, and cannot speak for the opt-in');
is(consent('OptanonConsent=groups=C0002%3A1; pe_consent=marketing:1,'
           . 'analytics:0'),
   'necessary,analytics,marketing',
   'OneTrust speaks of analytics only: kv decides marketing');

# opt-out regions: granted unless refused, never an explicit category
my %ca = ('CF-IPCountry' => 'US', 'CF-Region-Code' => 'CA');
is(consent(undef, %ca), "$all,product_news",
   'opt-out without a cookie: everything but the explicit ai_processing');
is(consent('OptanonConsent=groups=C0004%3A0', %ca),
   'necessary,preferences,analytics,product_news',
   'opt-out: what the cookie refuses is refused');
is(consent('OptanonConsent=garbage', %ca), 'necessary,product_news',
   'opt-out with a cookie that does not parse: none of the four');
is(consent(undef, %ca, 'Sec-GPC' => '1'),
   'necessary,preferences,analytics,product_news',
   'opt-out with GPC: marketing refused');
is(consent('pe_consent=ai_processing:1', %ca, 'Sec-GPC' => '1'),
   'necessary,preferences,analytics,ai_processing,product_news',
   'opt-out: ai_processing only when a cookie names it');
is(consent('pe_consent=product_news:0', %ca), "$all",
   'opt-out: a custom category refused by the cookie');
is(consent('pe_consent=ai_processing:1', 'CF-IPCountry' => 'DE'),
   'necessary,ai_processing', 'opt-in: the opt-in alone');

# GPP (strings from the IAB's @iabgpp/cmpapi 3.2.0): a US section refuses
# marketing on an opt-out and speaks of nothing else; __gpp_sid narrows
# the sections that count
my $usnat_out = 'DBABLA~CEAQAAAAAABA.QA';
my $gpp_tcf_all = 'DBABMA~CQujIwAQujIwAAKABAENBkEgAP_AAAAAAAYgF5wAoAAgAEAv'
                . 'MAAAAAAA.IAAA.YAAAAAAAAAAA';
is(consent("__gpp=$usnat_out", %ca),
   'necessary,preferences,analytics,product_news',
   'GPP usnat opted out of sale: marketing refused, the rest by policy');
is(consent("__gpp=$usnat_out; __gpp_sid=2", %ca), "$all,product_news",
   '... unless __gpp_sid says usnat does not apply');
is(consent("__gpp=$usnat_out; __gpp_sid=7", %ca),
   'necessary,preferences,analytics,product_news', '... __gpp_sid=7: it does');
is(consent("__gpp=$usnat_out; __gpp_sid=seven", %ca),
   'necessary,product_news',
   'a __gpp_sid that does not parse: the GPP string grants none of the four');
is(consent("__gpp=$usnat_out"), 'necessary',
   'GPP usnat in an opt-in region: it cannot grant');
is(consent("__gpp=$gpp_tcf_all; pe_consent=ai_processing:1"),
   "$all,ai_processing", 'GPP section 2 accept-all and the opt-in');
is(consent('__gpp=DBABLA~CEAQ; pe_consent=ai_processing:1', %ca),
   'necessary,ai_processing,product_news',
   'a broken GPP string refuses the four, not the opt-in');

# unknown region: opt-in whatever the cookie's absence
is(consent(undef, 'CF-IPCountry' => 'XX'), 'necessary',
   'unknown region, no cookie: necessary');

# privacy_require
my $r = http_get($port, '/jobs', 'CF-IPCountry' => 'DE');
is($r->{status}, 403, 'no ai_processing consent: 403');
is($r->{body}, qq({"error":"consent_required","category":"ai_processing",)
               . qq("missing":["ai_processing"]}\n), '... naming it');
is($r->{headers}{'privacy-reason'}, 'consent_required', '... Privacy-Reason');

$r = http_get($port, '/jobs', 'CF-IPCountry' => 'DE',
              Cookie => 'pe_consent=ai_processing:1');
is($r->{status}, 200, 'with ai_processing consent: passes');

$r = http_get($port, '/ads', 'CF-IPCountry' => 'DE',
              Cookie => 'pe_consent=analytics:1');
is($r->{status}, 451, 'status=451 is honoured');
like($r->{body}, qr/"category":"marketing","missing":\["marketing"\]/,
     '... the missing one named');

$r = http_get($port, '/my-data', 'CF-IPCountry' => 'DE');
is($r->{status}, 200, 'limit_except: GET without consent still works');
$r = http($port, "DELETE /my-data HTTP/1.1\r\nHost: x\r\nCF-IPCountry: DE\r\n"
               . "Connection: close\r\n\r\n");
is($r->{status}, 200, 'limit_except: DELETE without consent works');
$r = http_post($port, '/my-data', 'x', 'CF-IPCountry' => 'DE');
is($r->{status}, 403, 'limit_except: POST without consent is refused');

$r = http_get($port, '/any', 'CF-IPCountry' => 'DE');
is($r->{status}, 403, 'satisfy any with a matching allow: still 403');

# hostile cookies: no consent, no crash, bounded time
my $t0 = time;
my @hostile = (
    'euconsent-v2=' . ('A' x 8000),
    # every byte but NUL, CR and LF, which nginx itself refuses with 400
    'euconsent-v2=' . join('', map { chr(int(rand(256))) } 1 .. 2000)
        =~ s/[\r\n\0]//gr,
    'OptanonConsent=groups=' . ('C0002%3A1%2C' x 600),
    'CookieConsent={' . ('necessary:true,' x 400) . '}',
    join('; ', map { "c$_=v$_" } 1 .. 1000) . '; pe_consent=analytics:1',
    "pe_consent=analytics:1\x01marketing:1",
    'euconsent-v2=' . substr($accept, 0, 20) . "\xff\xfe",
);
my $ok = 0;
for my $c (@hostile) {
    $r = http_get($port, '/consent', 'CF-IPCountry' => 'DE', Cookie => $c);
    if ($r->{status} == 200 && $r->{body} =~ /^necessary(,analytics)?\n/) {
        $ok++;
    } else {
        diag("cookie of " . length($c) . " bytes: $r->{status} $r->{body}");
    }
}
is($ok, scalar @hostile, 'hostile consent cookies: answered, nothing more '
   . 'than asked for');
$r = http_get($port, '/consent', 'CF-IPCountry' => 'DE',
              Cookie => join('; ', map { "c$_=v$_" } 1 .. 1000)
                        . '; pe_consent=analytics:1');
is($r->{body}, "necessary,analytics\n",
   'the consent cookie after 1,000 others is found');
ok(time - $t0 < 3, 'all of them in bounded time');

$t->nginx_stop;
like($t->access_log, qr{"GET /jobs HTTP/1.1" 403 decision=consent_required},
     '$privacy_decision: consent_required');

done_testing();
