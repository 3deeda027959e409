#!/usr/bin/perl

# privacy_enforce report: every check runs and is counted as with "on",
# but nothing is refused, held or stripped.  For each reason of the
# refusal table (and the cookie filter) the same requests are sent to
# the same configuration twice: in report mode each reaches the upstream
# stand-in with its body and cookies as sent, $privacy_decision is
# report:<reason> and privacy_status counts it apart, as a report (JSON
# "report", Prometheus mode="report"); with "on" the same request is
# refused.  And nginx -t names each location in report mode.

use strict;
use warnings;

use Test::More;
use JSON::PP qw(decode_json);
use Time::HiRes qw(time);

use lib 't/lib';
use PETest;

my $conf = <<'EOF';
    privacy_consent_category ai_processing explicit;
    privacy_cookie_class analytics ^_ga;

    privacy_limit_zone $http_x_user zone=per_user:1m rate=1r/m;
    privacy_limit_zone $http_x_user zone=paced:1m rate=2r/s;
    privacy_limit_zone $http_x_user zone=synced:1m rate=1r/m sync=redis;
    privacy_redis 127.0.0.1:%%PORT_nowhere%% timeout=200ms fail=closed;

    privacy_enforce %%MODE%%;

    server {
        listen 127.0.0.1:%%PORT%%;
        server_name edge.test;

        privacy_region $http_cf_ipcountry;
        privacy_region_policy eea opt-in;
        privacy_region_policy KP block;
        privacy_region_policy default opt-out;
        privacy_consent_cookie pe_consent kv;

        location /jobs {
            privacy_require ai_processing;
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }

        location /page {
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }

        location /limited {
            privacy_limit zone=per_user burst=1 nodelay;
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }

        location /paced {
            privacy_limit zone=paced burst=5;
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }

        location /synced {
            privacy_limit zone=synced burst=1 nodelay;
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }

        location /size {
            privacy_upload_max_size 10;
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }

        location /types {
            privacy_upload_type image/png 64;
            privacy_upload_sniff on;
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }

        location /unbuffered {
            privacy_upload_type image/png 64;
            privacy_upload_sniff on;
            proxy_request_buffering off;
            proxy_http_version 1.1;
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }

        location /cookies {
            privacy_cookie_filter on;
            proxy_pass http://127.0.0.1:%%PORT_up_cookie%%;
        }

        # "on" here whatever the http level says: refused in both runs
        location /strict {
            privacy_enforce on;
            privacy_require ai_processing;
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }

    }

    server {
        listen 127.0.0.1:%%PORT_status%%;

        location = /status {
            privacy_status;
        }
    }
EOF

my $png = sample('png', 40);
my $bigpng = sample('png', 100);
my $html = sample('html', 50);
my $b = 'XyZ42';
my $mp_big = multipart_body($b, ['prompt', undef, undef, 'a cat'],
                            ['file', 'cat.png', 'image/png', $bigpng]);
my $mp_ok = multipart_body($b, ['file', 'cat.png', 'image/png', $png]);
my $mp_type = "multipart/form-data; boundary=$b";

# name, reason, status with "on", request (a sub taking the port)
my @cases = (
    ['consent', 'consent_required', 403,
     sub { http_get($_[0], '/jobs', 'CF-IPCountry' => 'DE') }],
    ['region', 'region_blocked', 451,
     sub { http_get($_[0], '/page', 'CF-IPCountry' => 'KP') }],
    ['size (Content-Length)', 'upload_too_large', 413,
     sub { http_post($_[0], '/size', 'x' x 100) }],
    ['size (a multipart file over its type\'s cap)', 'upload_too_large', 413,
     sub { http_post($_[0], '/types', $mp_big, 'Content-Type' => $mp_type) }],
    ['type', 'upload_type', 415,
     sub { http_post($_[0], '/types', $html, 'Content-Type' => 'text/html') }],
    ['mismatch', 'upload_mismatch', 415,
     sub { http_post($_[0], '/types', $html, 'Content-Type' => 'image/png') }],
    ['malformed multipart', 'upload_malformed', 400,
     sub { http_post($_[0], '/types', "no boundary here at all\r\n",
                     'Content-Type' => $mp_type) }],
    ['limiter unavailable (fail=closed)', 'limiter_unavailable', 503,
     sub { http_get($_[0], '/synced', 'X-User' => 'sam') }],
);

sub run_mode {
    my ($mode) = @_;

    my $t = PETest->new;
    $t->upstream('app');
    $t->upstream('cookie',
                 headers => "Set-Cookie: _ga=GA1.2; Path=/\r\n"
                          . "Set-Cookie: session=s1; Path=/\r\n");
    $t->port('nowhere');        # nothing listens there: Redis is down

    (my $http = $conf) =~ s/%%MODE%%/$mode/;
    $t->nginx_start($http);
    return $t;
}

# what the upstream received since a mark
sub received {
    my ($t, $mark) = @_;
    return $t->upstream_since($mark);
}

# the decisions of the access log; with $want, waits a little for that
# many lines (a request is logged just after its response is sent)
sub log_decisions {
    my ($t, $want) = @_;
    my $deadline = time + 5;
    my @d;
    while (1) {
        @d = $t->access_log =~ /decision=(\S+)/g;
        last if @d >= ($want // 0) || time > $deadline;
        select(undef, undef, undef, 0.02);
    }
    return \@d;
}

# how many lines the access log has once the last request is logged
sub log_mark {
    my ($t) = @_;
    my $n = () = $t->access_log =~ /decision=/g;
    for (1 .. 40) {
        select(undef, undef, undef, 0.05);
        my $again = () = $t->access_log =~ /decision=/g;
        last if $again == $n;
        $n = $again;
    }
    return $n;
}

# --- report ------------------------------------------------------------

my $t = run_mode('report');
my $port = $t->port;

for my $c (@cases) {
    my ($name, $reason, $status, $send) = @$c;
    my $mark = $t->upstream_mark;
    my $n = log_mark($t);

    my $r = $send->($port);
    is($r->{status}, 200, "report, $name: passed to the upstream");
    ok(!exists $r->{headers}{'privacy-reason'}, "... no Privacy-Reason");

    my @got = received($t, $mark);
    is(scalar @got, 1, '... which received it once');

    my $d = log_decisions($t, $n + 1);
    is($d->[$n], "report:$reason", "... \$privacy_decision report:$reason");
}

# the bodies: compared byte for byte with what was sent
{
    my $mark = $t->upstream_mark;
    http_post($port, '/size', 'y' x 100);
    http_post($port, '/types', $mp_big, 'Content-Type' => $mp_type);
    http_post($port, '/types', $html, 'Content-Type' => 'text/html');
    http_post($port, '/types', $html, 'Content-Type' => 'image/png');
    http_post($port, '/types', "no boundary\r\n", 'Content-Type' => $mp_type);
    my @got = received($t, $mark);
    is(scalar @got, 5, 'report: the five bodies reached the upstream');
    is($got[0]{body}, 'y' x 100, '... too large: whole');
    is($got[1]{body}, $mp_big, '... a multipart file over its cap: whole');
    is($got[2]{body}, $html, '... of a type not allowed: unchanged');
    is($got[3]{body}, $html, '... mismatched: unchanged');
    is($got[4]{body}, "no boundary\r\n", '... malformed: unchanged');
    is(scalar(grep { $_->{complete} } @got), 5, '... each complete');

    # the type known only at the first byte of a chunked body; and a body
    # held back (proxy_request_buffering off) until its file was judged
    $mark = $t->upstream_mark;
    my $r = http($port, "POST /types HTTP/1.1\r\nHost: localhost\r\n"
                        . "Content-Type: text/html\r\n"
                        . "Transfer-Encoding: chunked\r\n"
                        . "Connection: close\r\n\r\n"
                        . sprintf('%x', length $html) . "\r\n$html\r\n"
                        . "0\r\n\r\n");
    is($r->{status}, 200, 'report: a chunked body of a type not allowed');
    $r = http_post($port, '/unbuffered', $html, 'Content-Type' => 'image/png');
    is($r->{status}, 200, 'report: an unbuffered mismatched body');
    @got = received($t, $mark);
    is($got[0]{body}, $html, '... the chunked one reached the upstream whole');
    is($got[1]{body}, $html, '... the unbuffered one too');
    is(scalar(grep { $_->{complete} } @got), 2, '... each complete');
}

# a body that passes every check is still an "allow"
{
    my $n = log_mark($t);
    my $r = http_post($port, '/types', $mp_ok, 'Content-Type' => $mp_type);
    is($r->{status}, 200, 'report: a good upload passes');
    is(log_decisions($t, $n + 1)->[$n], 'allow', '... decision allow');
}

# rate limits: charged as with "on", neither refused nor held
my $rl;
{
    my $n = log_mark($t);
    my @r = map { http_get($port, '/limited', 'X-User' => 'ann') } 1 .. 4;
    is_deeply([ map { $_->{status} } @r ], [200, 200, 200, 200],
              'report: over the limit, still passed');
    my $d = log_decisions($t, $n + 4);
    is_deeply([ @$d[$n .. $n + 3] ],
              ['allow', 'allow', 'report:rate_limited', 'report:rate_limited'],
              '... the third and fourth reported as rate_limited');
    $rl = $r[2];
    like($rl->{headers}{ratelimit}, qr/^"per_user";r=0;t=\d+$/,
         '... RateLimit still sent, with nothing left');
    ok(!exists $rl->{headers}{'retry-after'}, '... no Retry-After');
}

{
    my $t0 = time;
    my @r = map { http_get($port, '/paced', 'X-User' => 'bob') } 1 .. 3;
    my $took = time - $t0;
    is_deeply([ map { $_->{status} } @r ], [200, 200, 200],
              'report: within the burst without nodelay');
    ok($took < 0.5, "... not held (${took}s)");
}

# the cookie filter: noted, nothing dropped either way
{
    my $mark = $t->upstream_mark('cookie');
    my $n = log_mark($t);
    my $r = http_get($port, '/cookies', 'CF-IPCountry' => 'DE',
                     Cookie => '_ga=GA1.1; session=me');
    is($r->{status}, 200, 'report, cookies: passed');
    my @got = $t->upstream_since($mark, 'cookie');
    like($got[0]{head}, qr/^Cookie: _ga=GA1\.1; session=me\r?$/mi,
         '... the analytics cookie reaches the upstream');
    my @set = @{ $r->{header_list}{'set-cookie'} // [] };
    ok((grep { /^_ga=/ } @set), '... and its Set-Cookie the client')
        or diag(explain($r->{headers}));
    is(log_decisions($t, $n + 1)->[$n], 'report:cookie_filtered',
       '... $privacy_decision report:cookie_filtered');

    # consent given: nothing to report
    $r = http_get($port, '/cookies', 'CF-IPCountry' => 'DE',
                  Cookie => '_ga=GA1.1; pe_consent=analytics:1');
    is(log_decisions($t, $n + 2)->[$n + 1], 'allow', '... with consent: allow');
}

# a location that says "on" refuses whatever the http level says
is(http_get($port, '/strict', 'CF-IPCountry' => 'DE')->{status}, 403,
   'report at http, on in the location: refused');

my $r = status_settled($t->port('status'), '/status');
my $s = eval { decode_json($r->{body}) };
ok($s, 'report: the status parses') or diag($r->{body});

my %want = (consent_required => 1, region_blocked => 1,
            upload_too_large => 4, upload_type => 3, upload_mismatch => 3,
            upload_malformed => 2, limiter_unavailable => 1,
            rate_limited => 2, cookie_filtered => 1);
for my $k (sort keys %want) {
    is($s->{report}{$k}{total}, $want{$k}, "report.$k.total $want{$k}");
}
is($s->{decisions}{consent_required}{total}, 1,
   'decisions: only /strict refused for consent');
for my $k (qw(region_blocked upload_too_large upload_type upload_mismatch
              upload_malformed rate_limited limiter_unavailable)) {
    is($s->{decisions}{$k}{total}, 0, "decisions.$k.total 0");
}
is($s->{report}{consent_required}{eea}, 1, 'report: by group too (eea)');
ok(!exists $s->{report}{allow}, 'report: no allow');
is($s->{limits}{rejected}, 2, 'limits: rejected as "on" would have');
is($s->{limits}{delayed}, 2, 'limits: delayed as "on" would have');

$r = http_get($t->port('status'), '/status?format=prometheus');
like($r->{body},
     qr/^privacy_decisions_total\{reason="consent_required",group="eea",mode="report"\} 1$/m,
     'Prometheus: mode="report"');
like($r->{body},
     qr/^privacy_decisions_total\{reason="cookie_filtered",group="eea",mode="report"\} 1$/m,
     'Prometheus: cookie_filtered');
like($r->{body},
     qr/^privacy_decisions_total\{reason="consent_required",group="eea"\} 1$/m,
     'Prometheus: the refusal keeps its labels');

$t->nginx_stop;
like($t->error_log, qr/privacy: report: would refuse 403 consent_required/,
     'the error log says what would have been refused');

# --- nginx -t ----------------------------------------------------------

{
    my $tt = PETest->new;
    $tt->port('nowhere');
    (my $http = $conf) =~ s/%%MODE%%/report/;
    my ($rc, $out) = $tt->nginx_test_conf($http);
    is($rc, 0, 'nginx -t: report mode is a valid configuration');
    like($out, qr/\[warn\].*privacy_enforce report: nothing is refused in location "\/jobs" of server "edge\.test"/,
         'nginx -t names a location in report mode');
    like($out, qr/location "\/types"/, '... each of them');
    unlike($out, qr/location "\/strict"/, '... not one that says "on"');
    unlike($out, qr/location "\/status"/, '... nor one with nothing to refuse');

    ($http = $conf) =~ s/%%MODE%%/on/;
    ($rc, $out) = $tt->nginx_test_conf($http);
    unlike($out, qr/privacy_enforce/, 'with "on": nothing said');

    $tt->conf_fails('privacy_enforce off;',
                    qr/invalid value "off" in .*nginx\.conf/,
                    'privacy_enforce off');
    $tt->conf_fails('privacy_enforce on; privacy_enforce report;',
                    qr/"privacy_enforce" directive is duplicate/,
                    'privacy_enforce twice');
}

# --- on: the same requests refused -------------------------------------

$t = run_mode('on');
$port = $t->port;

for my $c (@cases) {
    my ($name, $reason, $status, $send) = @$c;
    my $mark = $t->upstream_mark;
    my $n = log_mark($t);

    my $r = $send->($port);
    is($r->{status}, $status, "on, $name: $status");
    is($r->{headers}{'privacy-reason'}, $reason, "... $reason");
    is(log_decisions($t, $n + 1)->[$n], $reason,
       "... \$privacy_decision $reason");
    is(scalar(grep { $_->{complete} } received($t, $mark)), 0,
       '... nothing reached the upstream');
}

{
    my @r = map { http_get($port, '/limited', 'X-User' => 'ann') } 1 .. 3;
    is_deeply([ map { $_->{status} } @r ], [200, 200, 429],
              'on: the third over the limit: 429');
    like($r[2]{headers}{'retry-after'}, qr/^\d+$/, '... with Retry-After');

    my $t0 = time;
    @r = map { http_get($port, '/paced', 'X-User' => 'bob') } 1 .. 3;
    my $took = time - $t0;
    ok($took > 0.8, "on: within the burst without nodelay, held (${took}s)");

    my $mark = $t->upstream_mark('cookie');
    my $resp = http_get($port, '/cookies', 'CF-IPCountry' => 'DE',
                        Cookie => '_ga=GA1.1; session=me');
    my @got = $t->upstream_since($mark, 'cookie');
    like($got[0]{head}, qr/^Cookie: session=me\r?$/mi,
         'on: the analytics cookie is dropped from the request');
    my @set = @{ $resp->{header_list}{'set-cookie'} // [] };
    ok(!(grep { /^_ga=/ } @set), '... and its Set-Cookie from the response');
    ok((grep { /^session=/ } @set), '... the necessary one stays');
}

$r = status_settled($t->port('status'), '/status');
$s = eval { decode_json($r->{body}) };
for my $k (sort keys %want) {
    is($s->{report}{$k}{total}, 0, "on: report.$k.total 0");
}
is($s->{decisions}{upload_too_large}{total}, 2,
   'on: decisions.upload_too_large.total 2');

$t->nginx_stop;

# --- report mode stays where it is set -------------------------------------
# An internal redirect from a location in report mode to one that is "on"
# (try_files to a named location) checks anew there: what was only
# reported cannot be carried past an "on" location's checks.  And a body
# is judged, refused or reported, by the rules of the location that took
# it, wherever the request goes meanwhile.

my $t3 = PETest->new;
$t3->upstream('app');
$t3->upstream('cookie');
$t3->nginx_start(<<'EOF');
    privacy_consent_category ai_processing explicit;
    privacy_cookie_class analytics ^_ga;
    privacy_limit_zone $http_x_user zone=redirected:1m rate=1r/m;

    server {
        listen 127.0.0.1:%%PORT%%;
        privacy_region $http_cf_ipcountry;
        privacy_region_policy eea opt-in;
        privacy_region_policy default opt-out;
        privacy_consent_cookie pe_consent kv;

        location /rep {
            privacy_enforce report;
            privacy_require ai_processing;
            try_files /nonexistent @on;
        }
        location @on {
            privacy_enforce on;
            privacy_limit zone=redirected nodelay;
            privacy_upload_max_size 10;
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }

        location /rep-cookies {
            privacy_enforce report;
            privacy_cookie_filter on;
            try_files /nonexistent @cookies;
        }
        location @cookies {
            privacy_enforce on;
            privacy_cookie_filter on;
            proxy_pass http://127.0.0.1:%%PORT_up_cookie%%;
        }

        location /rep-body {
            privacy_enforce report;
            privacy_upload_type image/png 64;
            privacy_upload_sniff on;
            try_files /nonexistent @app;
        }
        location @app {
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }
    }
EOF

my @redirected = map {
    http_post($t3->port, '/rep', 'x' x 26, 'CF-IPCountry' => 'DE',
              'X-User' => "mallory$_")->{status} } 1 .. 2;
is_deeply(\@redirected, [413, 413],
          'report mode, then try_files to an "on" location: its upload cap '
          . 'refuses (413), not passed for being reported before');
is(http_get($t3->port, '/rep', 'CF-IPCountry' => 'DE', 'X-User' => 'eve')
       ->{status}, 200, '... a request it admits passes');
is(http_get($t3->port, '/rep', 'CF-IPCountry' => 'DE', 'X-User' => 'eve')
       ->{status}, 429, '... and its rate limit counts there (429)');

my $mark3 = $t3->upstream_mark('cookie');
http_get($t3->port, '/rep-cookies', 'CF-IPCountry' => 'DE',
         Cookie => '_ga=tracking; session=me');
my @c3 = $t3->upstream_since($mark3, 'cookie');
like($c3[0]{head} // '', qr/^Cookie: session=me\r?$/mi,
     'report mode, then an "on" location filtering cookies: the analytics '
     . 'cookie is dropped there');

is(http_post($t3->port, '/rep-body', '<html>not a png</html>',
             'Content-Type' => 'image/png')->{status}, 200,
   'a body taken in report mode, the request then sent to a location '
   . 'that is "on": reported by the rules that took it, passed (200)');

$t3->nginx_stop;

done_testing();
