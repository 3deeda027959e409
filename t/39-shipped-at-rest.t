#!/usr/bin/perl

# The shipped conf/nginx.conf keeps what users send off nginx's disk and
# their addresses out of its logs.  An upload paused half-way, and a large
# answer its client is slow to read, are caught in the act: every file
# nginx's processes hold open, deleted or not, and every file in its temp
# paths, is read for the prompt and the picture.  Then every log line
# nginx wrote through accepted, refused, oversized, denied, cut-off and
# failed requests from 127.0.0.6 is read for that address, and for a
# media link's token.

use strict;
use warnings;

use Test::More;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use PETest;

my $PROMPT = 'a-prompt-nobody-else-may-keep-' . int(rand(1e9));
my $PIXELS = 'pixels-of-a-private-photo-' . int(rand(1e9));
my $ANSWER = 'media-bytes-of-a-finished-job-' . int(rand(1e9));
my $CLIENT = '127.0.0.6';

my $t = PETest->new;
# the backend stand-in: a large answer to everything (a job's media)
$t->upstream('app', body => ($ANSWER x 300000) . "\n");
my $redis = $t->redis;
# as a site would serve it: HTTP/2 beside HTTP/1.1
my $shipped = $t->shipped_http(redis => $redis,
                               backend => $t->port('up_app'));
$shipped =~ s/(listen 127\.0\.0\.1:%%PORT%%;)/$1\n        listen 127.0.0.1:%%PORT_h2%% http2;/
    or die 'no listen line';
$t->nginx_start($shipped, workers => 2, error_log_level => 'notice',
                ports => [$t->port, $t->port('h2')]);
my $port = $t->port;
my $dir = $t->dir;

# the nginx processes: the master and its workers
sub nginx_pids {
    my @pids = ($t->{nginx_pid});
    for my $stat (glob '/proc/[0-9]*/stat') {
        open(my $fh, '<', $stat) or next;
        my $line = <$fh> // '';
        close $fh;
        push @pids, $1 if $line =~ /^(\d+) \(.*?\) \S (\d+)/
                          && $2 == $t->{nginx_pid};
    }
    return @pids;
}

# every open file of nginx's, and every file in its temp paths, that
# holds one of the markers
sub on_disk {
    my @markers = @_;
    my (@found, %seen);
    my @files;
    for my $pid (nginx_pids()) {
        for my $fd (glob "/proc/$pid/fd/*") {
            my $to = readlink($fd) // next;
            next unless $to =~ m{^/} && $to !~ m{^/(?:dev|proc)/};
            push @files, [$fd, $to];
        }
    }
    for my $d (qw(body proxy fastcgi uwsgi scgi)) {
        push @files, map { [$_, $_] } glob "$dir/$d/*/*/* $dir/$d/*";
    }
    for my $f (@files) {
        my ($path, $name) = @$f;
        next if $seen{$name}++ || -d $path;
        open(my $fh, '<', $path) or next;
        binmode $fh;
        my $content = do { local $/; <$fh> } // '';
        close $fh;
        for my $m (@markers) {
            push @found, "$name: $m" if index($content, $m) >= 0;
        }
    }
    return @found;
}

# an upload of 60 KB (far past client_body_buffer_size), paused half-way
my $png = sample('png', 60000);
substr($png, 100, length $PIXELS, $PIXELS);
my $body = multipart_body('Bnd7', ['prompt', undef, undef, $PROMPT],
                          ['file', 'photo.png', 'image/png', $png]);
my $head = "POST /v1/jobs HTTP/1.1\r\nHost: localhost\r\n"
         . "CF-IPCountry: DE\r\nCookie: pe_consent=ai_processing:1\r\n"
         . "Content-Type: multipart/form-data; boundary=Bnd7\r\n"
         . 'Content-Length: ' . length($body) . "\r\nConnection: close\r\n\r\n";

my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                              LocalAddr => $CLIENT)
    or die "connect: $!";
binmode $s;
syswrite($s, $head . substr($body, 0, 40000));
my @found;
for (1 .. 10) {
    sleep 0.1;
    push @found, on_disk($PROMPT, $PIXELS);
}
is(scalar @found, 0, 'an upload paused after 40 KB: neither its prompt nor '
   . 'its picture on nginx\'s disk') or diag(join "\n", @found[0 .. 4]);
syswrite($s, substr($body, 40000));
my $raw = '';
my $sel = IO::Select->new($s);
while ($sel->can_read(5)) {
    last unless sysread($s, $raw, 65536, length $raw);
    last if parse_response($raw)->{status} && length($raw) > 1e6;
}
close $s;
is(parse_response($raw)->{status}, 200, '... then it goes through');

my @seen = @{ $t->upstream_requests('app') };
ok((grep { index($_->{body} // '', $PROMPT) >= 0 } @seen),
   '... and the backend has it whole');

# the same over HTTP/2, paused after two DATA frames
$s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port('h2'),
                           LocalAddr => $CLIENT)
    or die "connect: $!";
binmode $s;
syswrite($s, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
             . PETest::_h2_frame(4, 0, 0, '')
             . PETest::_h2_frame(1, 0x4, 1, PETest::_h2_headers('POST',
                   '/v1/jobs', 'cf-ipcountry' => 'DE',
                   'cookie' => 'pe_consent=ai_processing:1',
                   'content-type' => 'multipart/form-data; boundary=Bnd7',
                   'content-length' => length $body))
             . PETest::_h2_frame(0, 0, 1, substr($body, 0, 16000))
             . PETest::_h2_frame(0, 0, 1, substr($body, 16000, 16000)));
@found = ();
for (1 .. 10) {
    sleep 0.1;
    push @found, on_disk($PROMPT, $PIXELS);
}
is(scalar @found, 0, 'an HTTP/2 upload paused after 32 KB: nothing of it on '
   . 'nginx\'s disk') or diag(join "\n", @found[0 .. 4]);
close $s;

# a large answer (a job's media, 12 MB) to a client that reads nothing
$s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                           LocalAddr => $CLIENT)
    or die "connect: $!";
setsockopt($s, Socket::SOL_SOCKET(), Socket::SO_RCVBUF(), 4096);
syswrite($s, "GET /v1/media/abc HTTP/1.1\r\nHost: localhost\r\n"
             . "Connection: close\r\n\r\n");
@found = ();
for (1 .. 10) {
    sleep 0.1;
    push @found, on_disk($ANSWER);
}
is(scalar @found, 0, 'a slow reader of a large answer: none of it buffered '
   . 'to nginx\'s disk') or diag(join "\n", @found[0 .. 4]);
close $s;

# the log: every kind of request from 127.0.0.6
my %from = (from => $CLIENT);
my $small = multipart_body('B', ['prompt', undef, undef, 'p'],
                           ['file', 'a.png', 'image/png', sample('png', 500)]);
my %mp = ('Content-Type' => 'multipart/form-data; boundary=B',
          'CF-IPCountry' => 'DE');
my %stat;
$stat{oversized} = http($port, "POST /v1/jobs HTTP/1.1\r\nHost: x\r\n"
                               . "Cookie: pe_consent=ai_processing:1\r\n"
                               . "Content-Length: 300000000\r\n\r\n",
                        %from)->{status};
$stat{denied} = http($port, "GET /privacy-status HTTP/1.1\r\nHost: x\r\n"
                            . "Connection: close\r\n\r\n", %from)->{status};
$stat{disguised} = http($port, "POST /v1/jobs HTTP/1.1\r\nHost: x\r\n"
                               . "Cookie: pe_consent=ai_processing:1\r\n"
                               . "Content-Type: image/png\r\n"
                               . "Content-Length: 100\r\n\r\n"
                               . sample('html', 100), %from)->{status};
# cut off half-way: the client goes away
$s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                           LocalAddr => $CLIENT);
syswrite($s, $head . substr($body, 0, 20000));
sleep 0.3;
close $s;

sub http_post_from {
    my ($uri, $data, %h) = @_;
    my $extra = join '', map { "$_: $h{$_}\r\n" } sort keys %h;
    return http($port, "POST $uri HTTP/1.1\r\nHost: localhost\r\n$extra"
                       . 'Content-Length: ' . length($data)
                       . "\r\nConnection: close\r\n\r\n$data", %from);
}
$stat{accepted} = http_post_from('/v1/jobs', $small, %mp,
                                 Cookie => 'pe_consent=ai_processing:1')
                  ->{status};
$stat{refused} = http_post_from('/v1/jobs', $small, %mp)->{status};
is_deeply(\%stat, { accepted => 200, refused => 403, oversized => 413,
                    denied => 403, disguised => 415 },
          'accepted, refused, oversized, denied and disguised requests');

$t->nginx_stop;

# and with the backend gone: nginx's own upstream errors
my $t2 = PETest->new;
$t2->nginx_start($t2->shipped_http(redis => $redis,
                                   backend => $t2->port('nothing')),
                 error_log_level => 'notice');
my $r = http($t2->port, "GET /v1/jobs HTTP/1.1\r\nHost: x\r\n"
                        . "Connection: close\r\n\r\n", from => $CLIENT);
is($r->{status}, 502, 'the backend down: 502');

# a media link is a capability: no log line names its token, however the
# path is spelt, in the access log nor in an upstream error's line
my $TOKEN = '0123456789abcdef0123456789abcdef0.1999999999.'
          . 'sig-nobody-may-log-' . int(rand(1e9));
for my $u ("/v1/media/$TOKEN", "//v1/media/$TOKEN", "/v1/%6dedia/$TOKEN",
           "/v1/./media/$TOKEN", "/v1//media/$TOKEN")
{
    my $m = http($t2->port, "GET $u HTTP/1.1\r\nHost: x\r\n"
                            . "Connection: close\r\n\r\n", from => $CLIENT);
    (my $spelt = $u) =~ s/\Q$TOKEN\E/TOKEN/;
    is($m->{status}, 502, "a media link ($spelt), the backend down: 502");
}

# provider callbacks name no user: a flood from one address is cut short
my %cb;
$cb{ http_post($t2->port, '/v1/providers/kling/webhook', '{}',
               'Content-Type' => 'application/json')->{status} }++
    for 1 .. 100;
cmp_ok(100 - ($cb{429} // 0), '>=', 41, 'callbacks: the burst of 40 passes');
cmp_ok($cb{429} // 0, '>=', 1, '... and a flood of 100 from one address '
       . 'meets 429 (' . ($cb{429} // 0) . ')');

$t2->nginx_stop;

my @lines;
for my $log ("$dir/error.log", "$dir/shipped.log", $t2->dir . '/error.log',
             $t2->dir . '/shipped.log')
{
    open(my $fh, '<', $log) or next;
    push @lines, map { "$log: $_" } <$fh>;
    close $fh;
}
my @full = grep { /\Q$CLIENT\E/ } @lines;
is(scalar @full, 0, 'no log line names 127.0.0.6')
    or diag(join '', @full[0 .. ($#full < 5 ? $#full : 5)]);
my @token = grep { /\Q$TOKEN\E/ } @lines;
is(scalar @token, 0, 'no log line names a media link\'s token')
    or diag(join '', @token[0 .. ($#token < 5 ? $#token : 5)]);
my @hidden = grep { /connect\(\) failed.*request: "\(hidden\)".*upstream: "http:\/\/[^"]*\(hidden\)"/ } @lines;
cmp_ok(scalar @hidden, '>=', 5, 'the upstream errors of the media links '
       . 'are logged, their request and upstream URI "(hidden)" ('
       . scalar(@hidden) . ' lines)');
my @anon = grep { /client: 127\.0\.0\.0,/ } @lines;
cmp_ok(scalar @anon, '>=', 2, 'the error log names the client as '
       . '127.0.0.0 (' . scalar(@anon) . ' lines)');

# hiding a URI needs the anonymised error log it is part of
my $t3 = PETest->new;
$t3->conf_fails('server { location /v1/media/ { '
                . 'privacy_error_log_hide_uri on; } }',
                qr/"privacy_error_log_hide_uri" needs "privacy_error_log_anon on"/,
                'privacy_error_log_hide_uri without privacy_error_log_anon: '
                . 'refused');

done_testing();
