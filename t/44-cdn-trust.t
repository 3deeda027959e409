#!/usr/bin/perl

# Each CDN snippet of conf/cdn/ as shipped, with the CDN played by
# 127.0.0.1 and visitors connecting straight from 127.0.0.2: the region
# headers are believed from the CDN only, and realip (set_real_ip_from
# and real_ip_header as the snippet ships them) gives $remote_addr,
# $privacy_remote_addr_anon and the per-address limits the visitor's
# address, not the CDN's, while a forged header from anyone else changes
# nothing.
#
# Only the CDN's address list changes:
#   cloudflare.conf  ships Cloudflare's ranges; 127.0.0.1/32 is added as
#                    the first entry of its privacy_region_trust list and
#                    as one more set_real_ip_from line
#   cloudfront.conf, fastly.conf, akamai.conf  ship a commented include
#                    of a trust file the operator generates (or pastes);
#                    the include is uncommented and points at the test's
#                    file, which lists 127.0.0.1/32 in the shape the
#                    snippet's comment makes (privacy_region_trust and
#                    set_real_ip_from).  Where jq is installed, that file
#                    is made by the snippet's own pipeline, curl replaced
#                    by a published list the test writes.

use strict;
use warnings;

use Test::More;
use JSON::PP ();

use lib 't/lib';
use PETest;

my $top = $PETest::TOP;

# what each CDN sends: the country, the subdivision, the client
my %cdn = (
    cloudflare => {
        geo => sub { ('CF-IPCountry' => $_[0],
                      defined $_[1] ? ('CF-Region-Code' => $_[1]) : ()) },
        client => sub { ('CF-Connecting-IP' => $_[0]) },
    },
    cloudfront => {
        geo => sub { ('CloudFront-Viewer-Country' => $_[0],
                      defined $_[1]
                      ? ('CloudFront-Viewer-Country-Region' => $_[1]) : ()) },
        # CloudFront appends the viewer after what the viewer sent
        client => sub { ('X-Forwarded-For' => "192.0.2.66, $_[0]") },
        list => { prefixes => [
                      { ip_prefix => '127.0.0.1/32',
                        service => 'CLOUDFRONT_ORIGIN_FACING' },
                      { ip_prefix => '127.0.0.2/32', service => 'EC2' } ],
                  ipv6_prefixes => [
                      { ipv6_prefix => '2600:9000::/28',
                        service => 'CLOUDFRONT_ORIGIN_FACING' } ] },
    },
    fastly => {
        geo => sub { ('Fastly-Geo-Country' => $_[0],
                      defined $_[1] ? ('Fastly-Geo-Region' => $_[1]) : ()) },
        client => sub { ('Fastly-Client-IP' => $_[0]) },
        list => { addresses => ['127.0.0.1/32'],
                  ipv6_addresses => ['2a04:4e40::/32'] },
    },
    akamai => {
        geo => sub { ('X-Akamai-Edgescape' => "georegion=1,country_code=$_[0]"
                      . (defined $_[1] ? ",region_code=$_[1]" : '')
                      . ',continent=XX') },
        client => sub { ('True-Client-IP' => $_[0]) },
    },
);

my $have_jq = !system('command -v jq >/dev/null 2>&1');

sub get {
    my ($port, $from, $uri, %h) = @_;
    my $extra = join '', map { "$_: $h{$_}\r\n" } sort keys %h;
    return http($port, "GET $uri HTTP/1.1\r\nHost: localhost\r\n$extra"
                       . "Connection: close\r\n\r\n", from => $from);
}

# the snippet with the test's CDN address, and how it got there
sub snippet {
    my ($t, $name) = @_;
    my $text = $t->read_file("$top/conf/cdn/$name.conf")
        // die "conf/cdn/$name.conf: $!";
    my $dir = $t->dir;

    if ($name eq 'cloudflare') {
        my $n = ($text =~ s{^(privacy_region_trust\n)}
                           {$1    127.0.0.1/32\n}m)
              + ($text =~ s{^(real_ip_header [^;\n]+;\n)}
                           {${1}set_real_ip_from 127.0.0.1/32;\n}m);
        is($n, 2, "$name: 127.0.0.1 added to its trust and realip lists");
        return $text;
    }

    my $file = "/etc/privacy-edge/cdn/$name-trust.conf";
    my $n = $text =~ s{^# include \Q$file\E;}{include $dir/$name-trust.conf;}m;
    is($n, 1, "$name: its trust file's include, uncommented");

    my $made;
    note($have_jq ? "$name: the trust file by the snippet's pipeline"
                  : "$name: no jq, the trust file written by the test")
        if $cdn{$name}{list};
    if ($have_jq && $cdn{$name}{list}) {
        # the snippet's own pipeline, curl replaced by the test's list
        my ($pipe) = $text =~ /^(#   cd .*?nginx -s reload)$/ms;
        ok($pipe, "$name: the snippet has its pipeline") or $pipe = '';
        $pipe =~ s/^#  ?//mg;
        my ($cd) = $pipe =~ /^ cd (\S+) &&/;
        is(($cd // '') . "/$name-trust.conf", $file,
           "$name: its pipeline writes the file it includes");
        $t->write_file("$name-list.json",
                       JSON::PP->new->canonical->encode($cdn{$name}{list}));
        $pipe =~ s{^ cd \S+}{ cd $dir};
        $pipe =~ s{curl -fsS \S+}{cat $dir/$name-list.json};
        $pipe =~ s{\s*&& nginx -t && nginx -s reload$}{};
        is(system('sh', '-c', $pipe), 0, "$name: the pipeline runs");
        $made = $t->read_file("$name-trust.conf") // '';
        like($made, qr{^privacy_region_trust\n
                       \ {4}127\.0\.0\.1/32\n (?:\ {4}\S+\n)* ;\n}mx,
             "$name: its pipeline lists the CDN's ranges to trust");
        like($made, qr/^set_real_ip_from 127\.0\.0\.1\/32;$/m,
             "$name: ... and for realip");
        unlike($made, qr/127\.0\.0\.2/, "$name: ... and no other service's");
    }
    # without jq, or where the pipeline made nothing: the trust file as the
    # snippet's comment describes it
    $t->write_file("$name-trust.conf",
                   "privacy_region_trust\n    127.0.0.1/32\n;\n"
                   . "set_real_ip_from 127.0.0.1/32;\n") unless $made;
    return $text;
}

my $all = 'necessary,preferences,analytics,marketing';
my $vars = 'region=$privacy_region consent=$privacy_consent '
         . 'addr=$remote_addr anon=$privacy_remote_addr_anon';

for my $name (qw(cloudflare cloudfront fastly akamai)) {
    my $t = PETest->new;
    my $c = $cdn{$name};
    $t->write_file("$name.conf", snippet($t, $name));
    $t->upstream('app');

    $t->nginx_start(<<"EOF");
    include %%DIR%%/$name.conf;

    privacy_region_policy eea opt-in;
    privacy_region_policy us_privacy_states opt-out gpc;
    privacy_region_policy default opt-out;

    privacy_limit_zone \$binary_remote_addr zone=per_addr:1m rate=1r/m;

    log_format cdn '\$privacy_remote_addr_anon region=\$privacy_region';

    server {
        listen 127.0.0.1:%%PORT%%;

        location /vars {
            return 200 "$vars\\n";
        }

        location /upload {
            privacy_limit zone=per_addr nodelay;
            access_log %%DIR%%/cdn.log cdn;
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }
    }
EOF
    my $port = $t->port;
    my $vars = sub {
        my ($from, %h) = @_;
        return get($port, $from, '/vars', %h)->{body} =~ s/\n$//r;
    };

    # the region: believed from the CDN, not from anyone else
    is($vars->('127.0.0.1', $c->{geo}->('DE')),
       "region=DE consent=necessary addr=127.0.0.1 anon=127.0.0.0",
       "$name: the CDN's country is believed");
    is($vars->('127.0.0.1', $c->{geo}->('US', 'CA')),
       "region=US-CA consent=$all addr=127.0.0.1 anon=127.0.0.0",
       "$name: ... and its subdivision");
    is($vars->('127.0.0.2', $c->{geo}->('US', 'CA')),
       "region=unknown consent=necessary addr=127.0.0.2 anon=127.0.0.0",
       "$name: from another peer, though loopback, not: unknown, "
       . 'the strictest');
    is($vars->('127.0.0.2', $c->{geo}->('US', 'CA'),
               $c->{client}->('127.0.0.1')),
       "region=unknown consent=necessary addr=127.0.0.2 anon=127.0.0.0",
       "$name: ... nor when it claims to be the CDN's client");

    # the visitor's address: from the CDN's header, behind the CDN only
    is($vars->('127.0.0.1', $c->{geo}->('DE'),
               $c->{client}->('203.0.113.77')),
       'region=DE consent=necessary addr=203.0.113.77 anon=203.0.113.0',
       "$name: behind the CDN, the visitor's address, anonymised");
    like($vars->('127.0.0.1', $c->{client}->('2001:db8:1234:5678::9')),
         qr/ addr=2001:db8:1234:5678::9 anon=2001:db8:1234::$/,
         "$name: an IPv6 visitor, cut to /48");
    is($vars->('127.0.0.2', $c->{client}->('203.0.113.77')),
       'region=unknown consent=necessary addr=127.0.0.2 anon=127.0.0.0',
       "$name: a forged client header from elsewhere changes nothing");

    # per-address limits (1r/m, no burst): per visitor behind the CDN
    my @st = map { get($port, $_->[0], '/upload',
                       $c->{client}->($_->[1]))->{status} }
             ['127.0.0.1', '203.0.113.77'], ['127.0.0.1', '198.51.100.8'],
             ['127.0.0.1', '203.0.113.77'], ['127.0.0.2', '203.0.113.77'],
             ['127.0.0.2', '198.51.100.9'];
    is_deeply(\@st, [200, 200, 429, 200, 429],
              "$name: two visitors behind the CDN are limited apart; a "
              . 'direct peer by its own address, whatever it claims');

    # nginx writes the line just after the response: wait for the fifth
    my @anon;
    for (1 .. 100) {
        @anon = map { /^(\S+)/ } split /\n/, $t->read_file('cdn.log') // '';
        last if @anon >= 5;
        select(undef, undef, undef, 0.02);
    }
    is_deeply(\@anon,
              ['203.0.113.0', '198.51.100.0', '203.0.113.0', '127.0.0.0',
               '127.0.0.0'],
              "$name: the access log has the visitors' networks");

    $t->nginx_stop;
}

done_testing();
