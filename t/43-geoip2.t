#!/usr/bin/perl

# conf/cdn/geoip2.conf as shipped, with Debian's geoip2 module
# (libnginx-mod-http-geoip2) and databases this test writes with
# MaxMind::DB::Writer (libmaxmind-db-writer-perl): a City-like one (a
# country and its first subdivision) and a Country-like one (no
# subdivisions).  Only the database path in the snippet is changed.  The
# test connects from loopback addresses, and the databases place them:
#
#   127.0.0.2  DE, Bavaria (BY)        127.0.0.5  not in the database
#   127.0.0.3  US, California (CA)     127.0.0.6  BR, no subdivision
#   127.0.0.4  GB, England (ENG)       127.0.0.7  a registered country only
#
# With the policies of the shipped conf/nginx.conf: each address's
# region, group and consent; the cookie filter and the upload's opt-in as
# the application behind sees them; a header the client sends changes
# nothing; behind realip the lookup is of the client, not the proxy.

use strict;
use warnings;

use Test::More;

use lib 't/lib';
use PETest;

my $GEOIP2 = '/usr/lib/nginx/modules/ngx_http_geoip2_module.so';

my $t = PETest->new;
my $top = $PETest::TOP;

# not skipped: scripts/deps.sh installs both
die "$GEOIP2: missing (apt-get install libnginx-mod-http-geoip2)\n"
    unless -f $GEOIP2;
eval { require MaxMind::DB::Writer::Tree; 1 }
    or die "MaxMind::DB::Writer: missing "
         . "(apt-get install libmaxmind-db-writer-perl)\n";

###########################################################################
# the databases: IPv6 trees with IPv4 in ::/96, as MaxMind's are; the
# loopback networks are reserved, so the writer must be told to keep them

my %city = (
    '127.0.0.2/32' => { country => { iso_code => 'DE' },
                        subdivisions => [{ iso_code => 'BY' }] },
    '127.0.0.3/32' => { country => { iso_code => 'US' },
                        subdivisions => [{ iso_code => 'CA' },
                                         { iso_code => 'XX' }] },
    '127.0.0.4/32' => { country => { iso_code => 'GB' },
                        subdivisions => [{ iso_code => 'ENG' }] },
    '127.0.0.6/32' => { country => { iso_code => 'BR' } },
    '127.0.0.7/32' => { registered_country => { iso_code => 'FR' } },
    # the client behind a proxy (realip)
    '198.51.100.0/24' => { country => { iso_code => 'US' },
                           subdivisions => [{ iso_code => 'CA' }] },
);

my %country = map {
    my $r = { %{ $city{$_} } };
    delete $r->{subdivisions};
    ($_ => $r);
} keys %city;

sub mmdb {
    my ($file, $type, $nets) = @_;
    my %types = (country => 'map', registered_country => 'map',
                 subdivisions => ['array', 'map'],
                 iso_code => 'utf8_string');
    my $tree = MaxMind::DB::Writer::Tree->new(
        ip_version => 6,
        record_size => 28,
        database_type => $type,
        languages => ['en'],
        description => { en => "privacy-edge test $type" },
        map_key_type_callback => sub { $types{ $_[0] } },
        alias_ipv6_to_ipv4 => 1,
        remove_reserved_networks => 0,
    );
    $tree->insert_network($_, $nets->{$_}) for sort keys %$nets;
    open(my $fh, '>:raw', $file) or die "$file: $!";
    $tree->write_tree($fh);
    close $fh;
    return $file;
}

my $dir = $t->dir;
mmdb("$dir/city.mmdb", 'GeoIP2-City', \%city);
mmdb("$dir/country.mmdb", 'GeoIP2-Country', \%country);

###########################################################################
# the configuration: the snippet as shipped (its database path moved),
# and of conf/nginx.conf's http{} the consent and policy lines, without
# its CDN header (which the snippet replaces)

my $snippet = $t->read_file("$top/conf/cdn/geoip2.conf")
    // die "conf/cdn/geoip2.conf: $!";
my $paths = () = $snippet =~ m{/var/lib/GeoIP/GeoLite2-City\.mmdb}g;
is($paths, 1, 'geoip2.conf names one database, /var/lib/GeoIP');

# every peer the test can connect from is loopback, which privacy-edge
# trusts by default: that the snippet trusts every peer (its values are
# this machine's lookup, never the client's) is read from its text
my ($trust) = $snippet =~ /^privacy_region_trust\s+([^;]*);/m;
is(join(' ', sort split ' ', $trust // ''), '0.0.0.0/0 ::/0',
   'geoip2.conf trusts every peer, IPv4 and IPv6');

my $shipped = $t->read_file("$top/conf/nginx.conf") // die;
my ($http) = $shipped =~ /^http \{\n(.*)^\}/ms or die 'no http block';
my @policy = $http =~ /^\s*((?:privacy_region_policy|privacy_consent_category
                               |privacy_consent_cookie|privacy_cookie_filter)
                              \b[^;]*;)/mgx;
cmp_ok(scalar @policy, '>=', 8, 'the shipped policy and consent lines')
    or diag(join "\n", @policy);
my $policy = join "\n    ", @policy;

my $vars = 'region=$privacy_region group=$privacy_region_group '
         . 'consent=$privacy_consent';

sub start {
    my ($db) = @_;
    (my $conf = $snippet) =~ s{/var/lib/GeoIP/GeoLite2-City\.mmdb}
                              {$dir/$db}g;
    $t->write_file('geoip2.conf', $conf);
    $t->nginx_start(<<"EOF", main => "load_module $GEOIP2;");
    include $dir/geoip2.conf;
    include $top/conf/cookies.conf;
    $policy

    server {
        listen 127.0.0.1:%%PORT%%;

        location /vars {
            return 200 "$vars\\n";
        }

        location = /v1/jobs {
            limit_except GET DELETE {
                privacy_require ai_processing;
            }
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }

        location / {
            proxy_pass http://127.0.0.1:%%PORT_up_app%%;
        }
    }

    # behind a proxy on 127.0.0.1 that says who its client is
    server {
        listen 127.0.0.1:%%PORT_realip%%;

        set_real_ip_from 127.0.0.1;
        real_ip_header X-Forwarded-For;

        location /vars {
            return 200 "$vars addr=\$remote_addr\\n";
        }
    }
EOF
}

sub get {
    my ($port, $from, $uri, %h) = @_;
    my $extra = join '', map { "$_: $h{$_}\r\n" } sort keys %h;
    return http($port, "GET $uri HTTP/1.1\r\nHost: localhost\r\n$extra"
                       . "Connection: close\r\n\r\n", from => $from);
}

sub vars {
    my ($from, %h) = @_;
    my $port = delete $h{port} // $t->port;
    return get($port, $from, '/vars', %h)->{body} =~ s/\n$//r;
}

my $all = 'necessary,preferences,analytics,marketing';
my $none = 'region=unknown group=unknown consent=necessary';

$t->upstream('app');

###########################################################################
# the City-like database

start('city.mmdb');

is(vars('127.0.0.2'), 'region=DE-BY group=eea consent=necessary',
   'DE, Bavaria: DE-BY, in the EEA, opt-in: necessary only');
is(vars('127.0.0.3'), "region=US-CA group=us_privacy_states consent=$all",
   'US, California: US-CA, a US privacy state, opt-out');
is(vars('127.0.0.3', 'Sec-GPC' => 1),
   'region=US-CA group=us_privacy_states '
   . 'consent=necessary,preferences,analytics',
   '... with Sec-GPC: 1, marketing refused');
is(vars('127.0.0.4'), 'region=GB-ENG group=uk consent=necessary',
   'GB, England: GB-ENG, the UK, opt-in');
is(vars('127.0.0.5'), $none,
   'an address not in the database: unknown, the strictest');
is(vars('127.0.0.6'), "region=BR group= consent=$all",
   'BR without a subdivision: the default, opt-out');
is(vars('127.0.0.7'), $none,
   'a registered country but no country: unknown');

# what the client sends is not what the lookup found
is(vars('127.0.0.5', 'CF-IPCountry' => 'US', 'CF-Region-Code' => 'CA',
        'X-Forwarded-For' => '127.0.0.3'), $none,
   'a client\'s CF-IPCountry and X-Forwarded-For change nothing');
is(vars('127.0.0.2', 'CloudFront-Viewer-Country' => 'US'),
   'region=DE-BY group=eea consent=necessary',
   '... nor another CDN\'s header');

# behind realip the lookup is of the client realip found
is(vars('127.0.0.1', port => $t->port('realip'),
        'X-Forwarded-For' => '198.51.100.7'),
   "region=US-CA group=us_privacy_states consent=$all addr=198.51.100.7",
   'behind realip: the client the proxy names is looked up');
is(vars('127.0.0.1', port => $t->port('realip')),
   "$none addr=127.0.0.1",
   '... and the proxy itself is in no database');
is(vars('127.0.0.2', port => $t->port('realip'),
        'X-Forwarded-For' => '198.51.100.7'),
   'region=DE-BY group=eea consent=necessary addr=127.0.0.2',
   '... a peer realip does not trust is looked up itself');

# the decisions as the application behind sees them
my @cookies = (Cookie => '_ga=GA1.1.1; _fbp=fb.1; session=s1');
my $mark = $t->upstream_mark('app');
get($t->port, '127.0.0.2', '/page', @cookies);
get($t->port, '127.0.0.3', '/page', @cookies);
get($t->port, '127.0.0.3', '/page', @cookies, 'Sec-GPC' => 1);
get($t->port, '127.0.0.5', '/page', @cookies);
my @sent = map { ($_->{head} =~ /^cookie:\s*(.*?)\r?$/mi)[0] // '' }
           $t->upstream_since($mark, 'app');
is_deeply(\@sent, ['session=s1', '_ga=GA1.1.1; _fbp=fb.1; session=s1',
                   '_ga=GA1.1.1; session=s1', 'session=s1'],
          'the trackers reach the application from US-CA (but _fbp not '
          . 'with GPC), not from DE-BY or an unknown address');

sub upload {
    my ($from, @h) = @_;
    my $body = 'x' x 16;
    my $extra = join '', map { "$_\r\n" } @h;
    return http($t->port, "POST /v1/jobs HTTP/1.1\r\nHost: localhost\r\n"
                . "Content-Type: application/octet-stream\r\n$extra"
                . 'Content-Length: ' . length($body)
                . "\r\nConnection: close\r\n\r\n$body", from => $from);
}

$mark = $t->upstream_mark('app');
my $r = upload('127.0.0.2', 'Cookie: session=s1');
is($r->{status}, 403, 'DE-BY: an upload without the AI opt-in: 403');
like($r->{body}, qr/"error":"consent_required"/, '... consent_required');
is(upload('127.0.0.3', 'Cookie: session=s1')->{status}, 403,
   'US-CA (opt-out): the AI opt-in is explicit there too: 403');
is(upload('127.0.0.2', 'Cookie: pe_consent=ai_processing:1; session=s1')
       ->{status}, 200, 'DE-BY with the opt-in: passes');
is(scalar(my @up = $t->upstream_since($mark, 'app')), 1,
   'the application saw only the upload that passed');

$t->nginx_stop;

###########################################################################
# the Country-like database: no subdivisions, the country alone

start('country.mmdb');

is(vars('127.0.0.2'), 'region=DE group=eea consent=necessary',
   'Country database: DE, the EEA, opt-in');
is(vars('127.0.0.3'), "region=US group= consent=$all",
   '... US without a state: the default, opt-out');
is(vars('127.0.0.4'), 'region=GB group=uk consent=necessary', '... GB');
is(vars('127.0.0.5'), $none, '... not in it: unknown');

$t->nginx_stop;

done_testing();
