#!/usr/bin/perl

# The shipped conf/nginx.conf, as a stranger would try it: every region
# shape (EEA, UK, CH, a US privacy state with and without GPC, the rest of
# the world, codes that are no country, none at all), with and without
# each consent cookie it reads.  The promise: nothing sends media to an
# AI provider without the visitor's explicit opt-in, "pe_consent" naming
# ai_processing; a CMP's TC or GPP string and that opt-in work together.
# The consent strings are the IAB's own encoders' output (@iabtcf/core
# 1.5.6, @iabgpp/cmpapi 3.2.0), not ours.

use strict;
use warnings;

use Test::More;

use lib 't/lib';
use PETest;

my $t = PETest->new;
$t->upstream('app', body => qq({"id":"job"}\n));
my $redis = $t->redis;

$t->nginx_start($t->shipped_http(redis => $redis,
                                 backend => $t->port('up_app')),
                workers => 2);
my $port = $t->port;

# from the reference encoders (see the header of this file)
my %tc = (
    all => 'CQujIwAQujIwAAKABAENBkEgAP_AAAAAAAYgF5wAoAAgAEAvMAAAAAAA',
    none => 'CQujIwAQujIwAAKABAENBkEgAAAAAAAAAAYgF5wAoAAgAEAvMAAAAAAA',
    # the string of the report: purposes 1-10, padded to 24 bits
    padded => 'CQujIwAQujIwAEsABAENAyEgAP_AAAAAAAAAADAQAAAAAAAA',
);
my %gpp = (
    usnat_in => 'DBABLA~CEAqAAAAAABA.QA',        # no opt-out
    usnat_out => 'DBABLA~CEAQAAAAAABA.QA',       # opted out of sale
    usca_gpc => 'DBABBg~BAoAAABA.YA',            # GPC subsection set
    tcf_all => 'DBABMA~' . $tc{all} . '.IAAA.YAAAAAAAAAAA',
    usp_out => 'DBABTA~1YYN',
);

my @regions = (
    ['DE'], ['FR'], ['GB'], ['CH'], ['US'], ['US', 'CA'], ['US', 'TX'],
    ['US', 'WA'], ['JP'], ['BR'], ['IN'], ['EU'], ['AP'], ['ZZ'], ['QQ'],
    ['USA'], [],
);

my @cookies = (
    [none => undef],
    [tcf_all => "euconsent-v2=$tc{all}"],
    [tcf_padded => "euconsent-v2=$tc{padded}"],
    [tcf_none => "euconsent-v2=$tc{none}"],
    [tcf_broken => 'euconsent-v2=CQujIwAQ'],
    (map { ["gpp_$_" => "__gpp=$gpp{$_}"] } sort keys %gpp),
    [ot_gpp => "OTGPPConsent=$gpp{tcf_all}"],
    # the opt-in cookie itself, said in other ways (a third field: it
    # grants ai_processing, and nothing is added beside it)
    [kv_all_but_ai => 'pe_consent=preferences:1,analytics:1,marketing:1', 0],
    [kv_ai_no => 'pe_consent=ai_processing:0', 0],
    [kv_ai_yes_no => 'pe_consent=ai_processing:yes,ai_processing:no', 0],
    [kv_broken => 'pe_consent=ai_processing', 0],
    [kv_quoted => 'pe_consent="ai_processing:true"', 1],
    [kv_other => 'pe_consent_x=ai_processing:1'],
    [kv_case => 'PE_CONSENT=ai_processing:1'],
);

my $opt_in_cookie = 'pe_consent=ai_processing:1';

# every combination, once without and once with the opt-in beside it;
# $privacy_consent is read from the shipped access log, by request
my (%want, $n);
for my $reg (@regions) {
    for my $gpc (0, 1) {
        for my $c (@cookies) {
            for my $with (0, 1) {
                next if $with && defined $c->[2];
                my %h;
                $h{'CF-IPCountry'} = $reg->[0] if @$reg;
                $h{'CF-Region-Code'} = $reg->[1] if @$reg > 1;
                $h{'Sec-GPC'} = 1 if $gpc;
                my @jar = grep { defined } $c->[1],
                                          $with ? $opt_in_cookie : undef;
                $h{Cookie} = join('; ', @jar) if @jar;
                $n++;
                my $r = http_get($port, "/v1/probe/$n", %h);
                $want{$n} = {
                    what => join('-', @$reg) . " gpc=$gpc $c->[0]"
                            . ($with ? ' +opt-in' : ''),
                    ai => $c->[2] // $with,
                    status => $r->{status},
                };
            }
        }
    }
}

my %seen;
for (1 .. 50) {
    %seen = ();
    for (split /\n/, $t->read_file('shipped.log') // '') {
        $seen{$1} = $2 if m{"GET /v1/probe/(\d+) [^"]*" .* consent=(\S*)};
    }
    last if keys %seen == $n;
    select(undef, undef, undef, 0.1);
}
is(scalar keys %seen, $n, "$n requests logged");

my (@over, @under);
for my $i (sort { $a <=> $b } keys %want) {
    my $w = $want{$i};
    my $ai = ($seen{$i} // '') =~ /(?:^|,)ai_processing(?:,|$)/ ? 1 : 0;
    push @over, "$w->{what}: $seen{$i}" if $ai && !$w->{ai};
    push @under, "$w->{what}: " . ($seen{$i} // '-') if !$ai && $w->{ai};
}
is(scalar @over, 0, 'no combination of region, GPC and cookies grants '
   . 'ai_processing without the opt-in')
    or diag(join("\n", @over[0 .. ($#over < 9 ? $#over : 9)]));
is(scalar @under, 0, 'the opt-in is honoured beside every other cookie, '
   . 'in every region')
    or diag(join("\n", @under[0 .. ($#under < 9 ? $#under : 9)]));

# what the visitor meets: an upload refused or taken
my $png = sample('png', 2048);
my $body = multipart_body('XyZ', ['prompt', undef, undef, 'a cat dancing'],
                          ['file', 'cat.png', 'image/png', $png]);

sub upload {
    my (%h) = @_;
    return http_post($port, '/v1/jobs', $body,
                     'Content-Type' => 'multipart/form-data; boundary=XyZ',
                     %h);
}

my $mark = $t->upstream_mark('app');
for my $case (['US'], ['JP'], ['BR'], ['US', 'CA', 1], ['EU'], ['ZZ'],
              ['DE'])
{
    my ($c, $sub, $gpc) = @$case;
    my %h = ('CF-IPCountry' => $c);
    $h{'CF-Region-Code'} = $sub if $sub;
    $h{'Sec-GPC'} = 1 if $gpc;
    my $r = upload(%h, Cookie => "euconsent-v2=$tc{all}");
    is($r->{status}, 403, join('-', grep { $_ } $c, $sub)
       . ($gpc ? ' with GPC' : '') . ', a TCF accept-all and no opt-in: '
       . 'the upload is refused');
    like($r->{body}, qr/"error":"consent_required","category":"ai_processing"/,
         '... consent_required, naming ai_processing');
}
my @reached = $t->upstream_since($mark, 'app');
is(scalar @reached, 0, 'none of them reached the backend');

my $r = upload('CF-IPCountry' => 'DE',
               Cookie => "euconsent-v2=$tc{padded}; $opt_in_cookie");
is($r->{status}, 200, 'DE: the TC string of the report and the opt-in: '
   . 'the upload goes through');
$r = upload('CF-IPCountry' => 'US', 'CF-Region-Code' => 'CA',
            'Sec-GPC' => 1, Cookie => "__gpp=$gpp{usca_gpc}; $opt_in_cookie");
is($r->{status}, 200, 'US-CA with GPC, a GPP string and the opt-in: too');
@reached = $t->upstream_since($mark, 'app');
is(scalar @reached, 2, 'the backend saw those two');

# the built-in categories still come from the CMP when the opt-in is there
my $log = sub {
    my ($i) = @_;
    return $seen{$i};
};
my ($de_all) = grep { $want{$_}{what} eq 'DE gpc=0 tcf_padded +opt-in' }
               keys %want;
is($log->($de_all),
   'necessary,preferences,analytics,marketing,ai_processing',
   'DE, the padded TC string and the opt-in: all four and ai_processing');
my ($ca_out) = grep { $want{$_}{what} eq 'US-CA gpc=0 gpp_usnat_out +opt-in' }
               keys %want;
is($log->($ca_out), 'necessary,preferences,analytics,ai_processing',
   'US-CA, GPP opted out of sale: marketing refused, the rest by policy');
my ($us_none) = grep { $want{$_}{what} eq 'US gpc=0 none' } keys %want;
is($log->($us_none), 'necessary,preferences,analytics,marketing',
   'US with no cookie: the opt-out policy, ai_processing not');

$t->nginx_stop;

done_testing();
