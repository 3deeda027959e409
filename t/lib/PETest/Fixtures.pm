package PETest::Fixtures;

# What the tests send and check, written apart from the C code they test:
# files of each media type by their leading bytes (sample, media_of), a
# multipart/form-data body, an IAB TCF v2 TC string, base64url, and an
# independent check of the HS256 JWTs the edge signs.
#
# Plain functions, exported by PETest (use PETest; never this module).

use strict;
use warnings;

use Exporter qw(import);

our @EXPORT_OK = qw(multipart_body sample media_of tcf_string b64url
                    jwt_verify);

# multipart_body($boundary, [name, filename|undef, type|undef, data], ...)
sub multipart_body {
    my ($b, @parts) = @_;
    my $body = '';
    for my $p (@parts) {
        my ($name, $file, $type, $data) = @$p;
        $body .= "--$b\r\nContent-Disposition: form-data; name=\"$name\"";
        $body .= "; filename=\"$file\"" if defined $file;
        $body .= "\r\n";
        $body .= "Content-Type: $type\r\n" if defined $type;
        $body .= "\r\n$data\r\n";
    }
    return $body . "--$b--\r\n";
}

# the leading bytes of real files of each kind, padded to $size
my %MAGIC = (
    png  => "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00"
          . "\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89",
    jpeg => "\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01"
          . "\x00\x00",
    gif  => "GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!",
    webp => "RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x00\x30\x01\x00\x9d",
    heic => "\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic",
    avif => "\x00\x00\x00\x20ftypavif\x00\x00\x00\x00avifmif1miafMA1B",
    mp4  => "\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41",
    mov  => "\x00\x00\x00\x14ftypqt  \x20\x05\x03\x00qt  ",
    webm => "\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\xf2"
          . "\x81\x04\x42\xf3\x81\x08\x42\x82\x84webm\x42\x87\x81\x04",
    html => "<!DOCTYPE html><html><script>alert(document.cookie)</script>",
);

my %TYPE = (png => 'image/png', jpeg => 'image/jpeg', gif => 'image/gif',
            webp => 'image/webp', heic => 'image/heic', avif => 'image/avif',
            mp4 => 'video/mp4', mov => 'video/quicktime',
            webm => 'video/webm', html => 'text/html');

# A file of the kind, $size bytes (default 1024): its leading bytes, then
# filler that holds no CR (no multipart boundary can form by chance) in
# the format's own frame, so the file is well formed to the metadata
# stripper and has no metadata (it passes unchanged): PNG's filler is an
# IDAT chunk before IEND, JPEG's scan data before EOI, WebP's its VP8
# chunk, ISO BMFF's an mdat box.  Shorter than that frame: the leading
# bytes cut.
sub sample {
    my ($kind, $size) = @_;
    my $m = $MAGIC{$kind} // die "no sample $kind";
    $size //= 1024;
    my ($head, $tail, $fill) = _frame($kind, $size);
    return substr($m, 0, $size) if !defined $head && $size <= length $m;
    return $m . ('x' x ($size - length $m)) unless defined $head;
    return substr($head . $tail, 0, $size)
        if $size < length($head) + length($tail);
    return $head . $fill->($size - length($head) - length($tail)) . $tail;
}

sub _chunk {
    my ($type, $data) = @_;
    require Compress::Zlib;
    return pack('N', length $data) . $type . $data
         . pack('N', Compress::Zlib::crc32($type . $data));
}

# (head, tail, filler of n bytes) of a well-formed file, or () for kinds
# that are only their leading bytes
sub _frame {
    my ($kind, $size) = @_;
    my $x = sub { 'x' x $_[0] };
    if ($kind eq 'png') {
        my $sig = "\x89PNG\r\n\x1a\n";
        my $ihdr = _chunk('IHDR', "\x00\x00\x00\x01\x00\x00\x00\x01"
                                  . "\x08\x06\x00\x00\x00");
        my $iend = _chunk('IEND', '');
        return ($sig . $ihdr, $iend,
                sub { my $n = $_[0] - 12;
                      $n >= 0 ? _chunk('IDAT', $x->($n)) : $x->($_[0]) });
    }
    if ($kind eq 'jpeg') {
        my $app0 = "\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01"
                 . "\x00\x00";
        my $sof = "\xff\xc0\x00\x0b\x08\x00\x01\x00\x01\x01\x01\x11\x00";
        my $sos = "\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00";
        return ("\xff\xd8" . $app0 . $sof . $sos, "\xff\xd9", $x);
    }
    if ($kind eq 'webp') {
        # a VP8 key frame's first bytes, then filler, padded to even
        my $vp8 = "\x30\x01\x00\x9d\x01\x2a\x01\x00\x01\x00";
        return ('', '', sub {
            my $n = $_[0];
            return substr($MAGIC{webp} . $x->($n), 0, $n)
                if $n < 20 + length $vp8;
            my $pay = $n - 20;
            my $pad = $pay % 2;
            $pay -= $pad;
            return 'RIFF' . pack('V', $n - 8) . 'WEBP' . 'VP8 '
                 . pack('V', $pay) . $vp8 . $x->($pay - length $vp8)
                 . ("\x00" x $pad);
        });
    }
    if ($kind =~ /^(?:heic|avif|mp4|mov)$/) {
        my $ftyp = $MAGIC{$kind};
        return ($ftyp, '', sub {
            my $n = $_[0];
            return $x->($n) if $n < 8;
            return pack('N', $n) . 'mdat' . $x->($n - 8);
        });
    }
    return;
}

sub media_of { $TYPE{$_[0]} }

###########################################################################
# consent and context helpers, written apart from the C code they check

sub b64url {
    my ($bytes) = @_;
    require MIME::Base64;
    (my $s = MIME::Base64::encode_base64($bytes, '')) =~ tr{+/}{-_};
    $s =~ s/=+$//;
    return $s;
}

# A TC string's core segment, after the IAB TCF v2 "core string" table.
# tcf_string(purposes => [1, 2, ...], policy => 4, service_specific => 1,
#            version => 2, cmp => 300, vendors => 40)
sub tcf_string {
    my (%o) = @_;
    my $bits = '';
    my $put = sub { $bits .= sprintf('%0*b', $_[1], $_[0]) };
    my %p = map { $_ => 1 } @{ $o{purposes} // [] };

    $put->($o{version} // 2, 6);
    $put->(16500000000, 36);                    # Created
    $put->(16500000000, 36);                    # LastUpdated
    $put->($o{cmp} // 300, 12);
    $put->(1, 12);                              # CmpVersion
    $put->(1, 6);                               # ConsentScreen
    $put->(4 * 64 + 13, 12);                    # ConsentLanguage "EN"
    $put->(150, 12);                            # VendorListVersion
    $put->($o{policy} // 4, 6);
    $put->($o{service_specific} // 1, 1);
    $put->(0, 1);                               # UseNonStandardTexts
    $put->(0, 12);                              # SpecialFeatureOptIns
    $bits .= $p{$_} ? '1' : '0' for 1 .. 24;    # PurposesConsent
    $put->(0, 24);                              # PurposesLITransparency
    $put->(0, 1);                               # PurposeOneTreatment
    $put->(3 * 64 + 4, 12);                     # PublisherCC "DE"
    my $max = $o{vendors} // 40;
    $put->($max, 16);                           # vendor consents
    $put->(0, 1);
    $bits .= join '', map { $_ % 2 } 1 .. $max;
    $put->(0, 16);                              # vendor legit. interests
    $put->(0, 1);
    $put->(0, 12);                              # publisher restrictions
    $bits .= '0' x ((6 - length($bits) % 6) % 6);

    my @a = ('A' .. 'Z', 'a' .. 'z', '0' .. '9', '-', '_');
    return join '', map { $a[oct("0b$_")] } $bits =~ /(.{6})/g;
}

# checks a compact HS256 JWS with the key; returns its claims or undef
sub jwt_verify {
    my ($jwt, $key) = @_;
    require Digest::SHA;
    require JSON::PP;
    require MIME::Base64;
    my ($h, $p, $s) = split /\./, $jwt // '', -1;
    return undef unless defined $s;
    return undef unless b64url(Digest::SHA::hmac_sha256("$h.$p", $key)) eq $s;
    my $dec = sub {
        (my $x = shift) =~ tr{-_}{+/};
        $x .= '=' x ((4 - length($x) % 4) % 4);
        return MIME::Base64::decode_base64($x);
    };
    my $header = eval { JSON::PP::decode_json($dec->($h)) } or return undef;
    return undef unless ($header->{alg} // '') eq 'HS256';
    return eval { JSON::PP::decode_json($dec->($p)) };
}

1;
