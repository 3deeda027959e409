#!/usr/bin/perl

# Data residency: "residency GROUP region=..." lets a region group's
# uploads go only to providers that declare one of those regions.  A job
# for another provider is refused 451 with the reason, before anything is
# stored or sent; other groups are not held to the rule; a provider in an
# allowed region takes the job.  A job accepted before a rule came is held
# to it when it is submitted: the record keeps its group, and the worker
# asks again.

use strict;
use warnings;

use Test::More;
use JSON::PP;

use lib 't/lib';
use PETest;
use PEBackend;

my $png = sample('png', 20000);

{
    my $s = PEBackend->new(run => 0.3, provider => 'region=us',
                           extra => "residency eea region=eu,ch;\n");
    my $t = $s->t;
    my $eea = $s->context(grp => 'eea', reg => 'DE');
    my $r = $s->upload(context => $eea, file => $png,
                       prompt => 'stays in Europe');
    is($r->{status}, 451, 'an EEA upload for a provider in the US: 451');
    is($r->{json}{error}, 'residency', '... as residency');
    is($r->{json}{reason}, 'data from the eea group may go only to '
       . 'providers in eu,ch; this model\'s provider is in us',
       '... saying where it may go and where the provider is');
    is_deeply([$s->spool_files], [], '... nothing kept in the spool');
    unlike($s->redis_dump, qr/pe:job:|stays in Europe/,
           '... no job in Redis');
    sleep 0.5;
    is(scalar @{ $t->fal_requests }, 0, '... and nothing sent');

    my $us = $s->context(grp => '', reg => 'US-CA',
                         sub => 'subject-bob-00000000000000000000000000000');
    $r = $s->upload(context => $us, file => $png);
    is($r->{status}, 202, 'a group without a rule: accepted');
    is($s->wait_status($r->{json}{id} // 'none', 10, 'succeeded', 'failed'),
       'succeeded', '... and done at the provider');
    $s->finish('residency');
}

{
    my $s = PEBackend->new(run => 0.3, provider => 'region=eu',
                           extra => "residency eea region=eu;\n");
    my $r = $s->upload(context => $s->context(grp => 'eea'), file => $png);
    is($r->{status}, 202, 'an EEA upload for a provider in the EU: 202');
    is($s->wait_status($r->{json}{id} // 'none', 10, 'succeeded', 'failed'),
       'succeeded', '... and done');
    $s->finish('residency in the EU');
}

{
    my $s = PEBackend->new(run => 0.3, extra => "residency eea region=eu;\n");
    my $r = $s->upload(context => $s->context(grp => 'eea'), file => $png);
    is($r->{status}, 451, 'a provider that declares no region: 451 for a '
       . 'group with a rule');
    like($r->{json}{reason} // '', qr/an undeclared region$/,
         '... saying so');
    $s->finish('no region');
}

{
    # accepted under no rule, waiting to retry when the rule comes
    my $s = PEBackend->new(run => 0.3, provider => 'region=us');
    my $t = $s->t;
    $t->fal_faults('submit 503 30');
    my $r = $s->upload(context => $s->context(grp => 'eea'), file => $png,
                       prompt => 'accepted before the rule');
    is($r->{status}, 202, 'an EEA upload under no rule: 202');
    my $id = $r->{json}{id} // 'none';
    is($s->record($id)->{grp}, 'eea', '... its record keeps its group');
    for (1 .. 100) {
        last if @{ $t->fal_requests };
        select(undef, undef, undef, 0.05);
    }
    $s->stop('TERM');
    my $sent = scalar @{ $t->fal_requests };
    $s->{o}{extra} = "residency eea region=eu;\n";
    $s->start;
    is($s->wait_status($id, 10, 'failed', 'succeeded'), 'failed',
       'after a rule for its group came, the job fails at its next '
       . 'submission');
    like($s->record($id)->{reason} // '',
         qr/^residency: data from the eea group may not go to provider fal/,
         '... for residency');
    select(undef, undef, undef, 0.5);
    is(scalar @{ $t->fal_requests }, $sent, '... and nothing more is sent');
    is_deeply([$s->spool_files], [], '... its files removed');
    $s->finish('a rule after the upload');
}

done_testing();
