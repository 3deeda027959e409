package PETest::HTTP;

# The HTTP/1.1 client of the tests, raw sockets and core Perl only: http()
# writes exactly the bytes it is given (in pieces, with pauses, from
# another loopback address, half-closed) and parses what comes back;
# http_get and http_post for the ordinary requests; parse_response and
# the chunked decoding it shares with the upstream stand-in; wait_port;
# status_settled for counters another worker may not have added yet.
#
# Plain functions, exported by PETest (use PETest; never this module).

use strict;
use warnings;

use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time sleep);
use Exporter qw(import);

our @EXPORT_OK = qw(http http_get http_post parse_response wait_port
                    status_settled _dechunk);

sub wait_port {
    my ($port, $secs) = @_;
    my $deadline = time + ($secs // 5);
    while (time < $deadline) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $port, Proto => 'tcp');
        if ($s) {
            close $s;
            return 1;
        }
        sleep 0.05;
    }
    return 0;
}

# Sends raw bytes (a string, or a list of strings written with a pause
# between them) and reads the answer until the server closes or the first
# response is complete.  Returns the parsed response, raw in {raw}.
sub http {
    my ($port, $request, %opt) = @_;
    # from => '127.0.0.6': another loopback address, another client
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp',
                                  $opt{from} ? (LocalAddr => $opt{from}) : ())
        or die "connect $port: $!";
    binmode $s;
    $s->autoflush(1);
    local $SIG{PIPE} = 'IGNORE';

    my @parts = ref $request ? @$request : ($request);
    my $raw = '';
    my $sel = IO::Select->new($s);

    for my $i (0 .. $#parts) {
        my $part = $parts[$i];
        while (length $part) {
            my $w = syswrite($s, $part);
            last unless defined $w;
            substr($part, 0, $w, '');
            # read what comes back meanwhile: a refusal may cut us short
            while ($sel->can_read(0)) {
                my $r = sysread($s, $raw, 65536, length $raw);
                last unless $r;
            }
        }
        sleep($opt{pause} // 0.05) if $i < $#parts;
    }

    shutdown($s, 1) if $opt{half_close};

    my $deadline = time + ($opt{timeout} // 5);
    while (time < $deadline) {
        last if !$opt{all} && _response_complete($raw);
        last unless $sel->can_read($deadline - time);
        my $r = sysread($s, $raw, 65536, length $raw);
        last unless $r;
    }
    close $s;

    my $res = parse_response($raw);
    return $res;
}

sub _response_complete {
    my ($raw) = @_;
    $raw =~ s{^HTTP/1\.\d 1\d\d[^\r\n]*\r\n(?:[^\r\n]+\r\n)*\r\n}{}s;
    my $i = index($raw, "\r\n\r\n");
    return 0 if $i < 0;
    my $head = substr($raw, 0, $i);
    return 0 unless $head =~ /^content-length:\s*(\d+)/mi;
    return length($raw) - $i - 4 >= $1;
}

sub parse_response {
    my ($raw) = @_;
    my %res = (raw => $raw, status => 0, headers => {}, body => '');
    my $r = $raw;
    # skip interim responses, but remember them
    while ($r =~ s{^HTTP/1\.\d (1\d\d)[^\r\n]*\r\n(?:[^\r\n]+\r\n)*\r\n}{}s) {
        push @{ $res{interim} }, $1;
    }
    my ($head, $body) = split /\r\n\r\n/, $r, 2;
    return \%res unless defined $head && $head =~ m{^HTTP/1\.\d (\d{3})};
    $res{status} = $1;
    for my $line (split /\r\n/, $head) {
        next unless $line =~ /^([^:]+):\s*(.*)$/;
        my $k = lc $1;
        $res{headers}{$k} = exists $res{headers}{$k}
            ? "$res{headers}{$k}, $2" : $2;
        push @{ $res{header_list}{$k} }, $2;
    }
    $body //= '';
    if (($res{headers}{'transfer-encoding'} // '') =~ /chunked/i) {
        ($body) = _dechunk($body);
    } elsif (defined $res{headers}{'content-length'}) {
        $body = substr($body, 0, $res{headers}{'content-length'});
    }
    $res{body} = $body;
    return \%res;
}

sub _dechunk {
    my ($raw) = @_;
    my $out = '';
    while ($raw =~ s/^([0-9a-fA-F]+)[^\r\n]*\r\n//) {
        my $size = hex $1;
        if ($size == 0) {
            return ($out, 1) if $raw =~ /\r\n/;
            return ($out, 0);
        }
        return ($out, 0) if length($raw) < $size + 2;
        $out .= substr($raw, 0, $size, '');
        substr($raw, 0, 2, '');
    }
    return ($out, 0);
}


sub http_get {
    my ($port, $uri, %h) = @_;
    my $extra = join '', map { "$_: $h{$_}\r\n" } sort keys %h;
    return http($port, "GET $uri HTTP/1.1\r\nHost: localhost\r\n$extra"
                       . "Connection: close\r\n\r\n");
}

# privacy_status counts a request in its log phase, which runs just after
# the response is sent: a client may ask for the counters before the last
# request of another worker is counted.  Ask until two answers 50 ms apart
# agree (at most 2 s), and return the last.
sub status_settled {
    my ($port, $uri) = @_;
    my $r = http_get($port, $uri);
    for (1 .. 40) {
        select(undef, undef, undef, 0.05);
        my $again = http_get($port, $uri);
        my $same = $again->{body} eq $r->{body};
        $r = $again;
        last if $same;
    }
    return $r;
}

# POST with Content-Length; headers as a hash
sub http_post {
    my ($port, $uri, $body, %h) = @_;
    my $extra = join '', map { "$_: $h{$_}\r\n" } sort keys %h;
    return http($port, "POST $uri HTTP/1.1\r\nHost: localhost\r\n$extra"
                       . "Content-Length: " . length($body)
                       . "\r\nConnection: close\r\n\r\n$body");
}

1;
