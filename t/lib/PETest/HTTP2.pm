package PETest::HTTP2;

# A small HTTP/2 client (prior knowledge, literal HPACK, no Huffman): one
# request with its body in DATA frames, or none, read as the answer comes
# (http2_request, http2_headers_only); many GET streams in one write
# (http2_burst); and the pieces they are made of (_h2_frame, _h2_headers),
# which a test may use to write frames of its own.
#
# Plain functions, exported by PETest (use PETest; never this module).

use strict;
use warnings;

use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time sleep);
use Exporter qw(import);

our @EXPORT_OK = qw(http2_headers_only http2_request http2_burst
                    _h2_frame _h2_headers);

# A small HTTP/2 client (prior knowledge, literal HPACK): HEADERS, then
# each piece of the body as a DATA frame (END_STREAM on the last), with
# the answer read as it comes.  With no pieces, HEADERS alone and no DATA
# frame ever: what the server answers from the headers only.  Returns
# {status, body, reset}; an empty list of pieces ends the stream with the
# HEADERS frame (a request without a body).  :status as nginx encodes it
# (a static table index, or raw digits), the body from DATA frames.
sub http2_headers_only {
    my ($port, $path, @headers) = @_;
    return http2_request($port, $path, undef, @headers);
}

# the small HTTP/2 client's pieces: a frame, a header block of literals
# (no Huffman, no indexing), the next whole frame off a buffer, and the
# :status of a HEADERS frame as nginx encodes it
sub _h2_frame {
    my ($type, $flags, $id, $payload) = @_;
    my $len = length $payload;
    return pack('CnCCN', $len >> 16, $len & 0xffff, $type, $flags, $id)
        . $payload;
}

sub _h2_headers {
    my ($method, $path, @headers) = @_;
    my @h = (':method' => $method, ':scheme' => 'http', ':path' => $path,
             ':authority' => 'localhost', @headers);
    my $hpack = '';
    while (my ($k, $v) = splice(@h, 0, 2)) {
        $hpack .= "\x00" . chr(length $k) . $k . chr(length $v) . $v;
    }
    return $hpack;
}

sub _h2_take_frame {
    my ($buf) = @_;
    return () if length($$buf) < 9;
    my ($lh, $ll, $type, $flags, $id) = unpack('CnCCN', $$buf);
    my $len = ($lh << 16) | $ll;
    return () if length($$buf) < 9 + $len;
    my $payload = substr($$buf, 9, $len);
    substr($$buf, 0, 9 + $len, '');
    return ($type, $flags, $id & 0x7fffffff, $payload);
}

my %H2_STATIC = (0x88 => 200, 0x89 => 204, 0x8a => 206, 0x8b => 304,
                 0x8c => 400, 0x8d => 404, 0x8e => 500);

sub _h2_status {
    my ($payload) = @_;
    my $b = ord $payload;
    return $H2_STATIC{$b} if $H2_STATIC{$b};
    # literal with incremental indexing of name 8 (":status"), raw string
    if (($b & 0xc0) == 0x40 && ($b & 0x3f) == 8
        && !(ord(substr($payload, 1, 1)) & 0x80))
    {
        return substr($payload, 2, ord(substr($payload, 1, 1)));
    }
    return 0;
}

sub http2_request {
    my ($port, $path, $pieces, @headers) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port)
        or die "connect $port: $!";
    binmode $s;

    local $SIG{PIPE} = 'IGNORE';
    syswrite($s, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
                 . _h2_frame(4, 0, 0, '')             # SETTINGS
                 # HEADERS, END_HEADERS; END_STREAM too for an empty body
                 . _h2_frame(1, ($pieces && !@$pieces) ? 0x5 : 0x4, 1,
                             _h2_headers('POST', $path, @headers)));
    for my $i (0 .. $#{ $pieces // [] }) {
        # DATA, END_STREAM on the last; stream windows are 64 KiB here
        select(undef, undef, undef, 0.01);
        syswrite($s, _h2_frame(0, $i == $#$pieces ? 1 : 0, 1, $pieces->[$i]));
    }

    my %res = (status => 0, body => '', reset => 0);
    my $buf = '';
    my $sel = IO::Select->new($s);
    my $deadline = time + 5;

    FRAMES: while (time < $deadline) {
        while (my ($type, $flags, $id, $payload) = _h2_take_frame(\$buf)) {
            if ($type == 4 && !($flags & 1)) {
                syswrite($s, _h2_frame(4, 1, 0, ''));      # SETTINGS ACK
            }
            next unless $id == 1;

            if ($type == 1) {
                $res{status} = _h2_status($payload);
            } elsif ($type == 0) {
                $res{body} .= $payload;
            } elsif ($type == 3) {
                $res{reset} = 1;
            }
            last FRAMES if $type == 3 || ($type <= 1 && ($flags & 1));
        }
        last unless $sel->can_read($deadline - time);
        last unless sysread($s, $buf, 65536, length $buf);
    }
    close $s;
    return \%res;
}

# Many GET requests as HTTP/2 streams, every HEADERS frame in one write:
# nginx reads them at once and starts every request in the same event
# loop cycle.  Each request is [path, header => value, ...]; returns their
# statuses in order (0: none came).
sub http2_burst {
    my ($port, @requests) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port)
        or die "connect $port: $!";
    binmode $s;
    local $SIG{PIPE} = 'IGNORE';

    my $out = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" . _h2_frame(4, 0, 0, '');
    my %stream;
    for my $i (0 .. $#requests) {
        my $id = 2 * $i + 1;
        $stream{$id} = $i;
        # END_STREAM, END_HEADERS
        $out .= _h2_frame(1, 0x5, $id, _h2_headers('GET', @{ $requests[$i] }));
    }
    syswrite($s, $out);

    my @status = (0) x @requests;
    my ($buf, $done) = ('', 0);
    my $sel = IO::Select->new($s);
    my $deadline = time + 10;

    while ($done < @requests && time < $deadline) {
        last unless $sel->can_read($deadline - time);
        last unless sysread($s, $buf, 65536, length $buf);
        while (my ($type, $flags, $id, $payload) = _h2_take_frame(\$buf)) {
            syswrite($s, _h2_frame(4, 1, 0, '')) if $type == 4 && !($flags & 1);
            next unless defined $stream{$id};
            $status[$stream{$id}] = _h2_status($payload) if $type == 1;
            $done++ if ($type <= 1 && ($flags & 1)) || $type == 3;
        }
    }
    close $s;
    return @status;
}

1;
