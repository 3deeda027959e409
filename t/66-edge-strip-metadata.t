#!/usr/bin/perl

# Metadata out of every upload, end to end THROUGH THE EDGE under the
# shipped configurations (t/lib/PEShipped.pm): what a provider receives of
# a user's photo, video or voice memo has no location, no camera serial,
# no owner, no free text and no thumbnail, while its picture, frames and
# sound are the same and what rendering needs (the colour profile, the
# orientation) is kept.
#
# The files are real ones made at test time: ImageMagick (a JPEG baseline
# and progressive, a PNG, a WebP), heif-enc (a HEIC, an AVIF; ImageMagick's
# AVIF without heif-enc), ffmpeg (an MP4, a MOV, an M4A), each picture
# with an ICC profile; then exiftool writes into them GPS, serial numbers,
# owner, artist, creator, by-line, comments, descriptions, keywords, PNG
# text chunks (tEXt, zTXt, iTXt), a thumbnail and Orientation 6, and
# QuickTime location, author, serial and keys.  Each goes as an accepted
# job through the edge to a stand-in (fal, Kling, Veo, Seedance); what the
# stand-in received (the inline data decoded, or the media link it fetched
# through the edge, which the test fetches too and compares by SHA-256
# with what the stand-in got) is read by exiftool -j -a -G1 -ee.  Every
# tag the test looks for was first seen by the same oracle in the
# original, so the test can fail; it does against a backend whose
# stripper passes the bytes unchanged.
#
# Also: decoded pixels (ImageMagick RGBA) and every frame and sample
# (ffmpeg framemd5) the same before and after; the ICC profile the same;
# Orientation 6 of the JPEGs kept; the job (GET /v1/jobs/ID) and the
# export say how many items went.  A model with strip=off whose model
# part comes before the file: the provider gets the original byte for
# byte and the job says "off" (after the file it is too late: stripped).
# An MP3 (no stripper for its type): as uploaded, "unsupported".  A JPEG
# cut in the middle: 415 upload_malformed naming its role, and nothing of
# it reaches any provider or stays in Redis.

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(sha256_hex);
use JSON::PP;
use MIME::Base64 qw(decode_base64);
use POSIX ();
use Time::HiRes qw(time sleep);

use lib 't/lib';
use PETest;
use PEShipped;

# --- the tools ---------------------------------------------------------------

sub have { system("command -v $_[0] >/dev/null 2>&1") == 0 }

# the real ImageMagick 6 (a convert earlier in PATH may be a wrapper)
my ($IM) = grep { -x } qw(/usr/bin/convert-im6.q16 /usr/bin/convert);
plan(skip_all => 'no ImageMagick convert') unless $IM;
plan(skip_all => 'no exiftool (libimage-exiftool-perl)')
    unless have('exiftool');
plan(skip_all => 'no ffmpeg') unless have('ffmpeg');
my $HEIF = have('heif-enc');
# AVIF by libheif's heif-enc (it keeps the ICC profile), else by ImageMagick
# (whose AVIF writer drops it)
my $AVIF_HEIF = $HEIF
                && `heif-enc --list-encoders 2>&1` =~ /^AVIF encoders:\n-/m;
my $AVIF = $AVIF_HEIF
           || `$IM -list format 2>/dev/null` =~ /^\s*AVIF\*?\s+\S+\s+rw/m;
my ($ICC) = grep { -f } ('/usr/share/color/icc/ghostscript/a98.icc',
                         glob('/usr/share/color/icc/*/*.icc'),
                         glob('/usr/share/color/icc/*.icc'));

my $t = PETest->new;
my $d = $t->dir;

# a command's standard output; its failure fails the test (with what it
# said on stderr, which is kept out of the test's output otherwise)
sub run {
    my (@cmd) = @_;
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if (!$pid) {
        open(STDERR, '>', "$d/command.err");
        exec(@cmd) or POSIX::_exit(127);
    }
    binmode $fh;
    my $out = do { local $/; <$fh> };
    close $fh;
    if ($?) {
        fail("@cmd: exit " . ($? >> 8));
        diag($t->read_file('command.err') // '');
    }
    return $out // '';
}

# --- the user's files, real ones, with everything a phone puts in them -------

my $Q = '-nostdin';
run($IM, '-seed', 65, '-size', '160x120', 'plasma:fractal', '-depth', 8,
    '+profile', '*', ($ICC ? ('-profile', $ICC) : ()), "$d/src.png");
run($IM, '-size', '32x24', 'xc:blue', "$d/thumb.jpg");
run($IM, "$d/src.png", '-quality', 85, "$d/base.jpg");
run($IM, "$d/src.png", '-quality', 85, '-interlace', 'JPEG', "$d/prog.jpg");
run($IM, "$d/src.png", "$d/img.png");
run($IM, "$d/src.png", '-quality', 80, "$d/img.webp");
if ($AVIF_HEIF) {
    run('heif-enc', '-A', '-q', 50, "$d/src.png", '-o', "$d/img.avif");
} elsif ($AVIF) {
    run($IM, "$d/src.png", "$d/img.avif");
}
run('heif-enc', '-q', 50, "$d/src.png", '-o', "$d/img.heic") if $HEIF;
run('ffmpeg', $Q, qw(-loglevel error -y -f lavfi
    -i testsrc=size=160x120:rate=10:duration=1 -f lavfi
    -i sine=frequency=440:duration=1 -pix_fmt yuv420p -c:v libx264
    -preset ultrafast -c:a aac -shortest),
    '-metadata', 'location=+48.8584+002.2945/',
    '-metadata', 'title=secret title 65',
    '-metadata', 'artist=Alice Artist65',
    '-metadata', 'comment=secret comment 65', "$d/clip.mp4");
run('ffmpeg', $Q, qw(-loglevel error -y -i), "$d/clip.mp4",
    qw(-c copy -f mov), '-metadata', 'location=+48.8584+002.2945/',
    '-metadata', 'title=secret title 65',
    '-metadata', 'artist=Alice Artist65',
    '-metadata', 'comment=secret comment 65', "$d/clip.mov");
run('ffmpeg', $Q, qw(-loglevel error -y -f lavfi
    -i sine=frequency=440:duration=1 -c:a aac),
    '-metadata', 'location=+48.8584+002.2945/',
    '-metadata', 'title=secret title 65',
    '-metadata', 'artist=Alice Artist65',
    '-metadata', 'comment=secret comment 65', "$d/voice.m4a");
# a voice memo of a type without a stripper (ID3 tags and all)
run('ffmpeg', $Q, qw(-loglevel error -y -f lavfi
    -i sine=frequency=440:duration=1), '-metadata', 'artist=Alice Artist65',
    "$d/voice.mp3");

my @images = grep { -s "$d/$_" } qw(base.jpg prog.jpg img.png img.webp
                                    img.heic img.avif);
my @av = qw(clip.mp4 clip.mov voice.m4a);
# the pictures with an ICC profile
my %ICC_IN = map { $_ => 1 } grep { $ICC && ($_ ne 'img.avif' || $AVIF_HEIF) }
                             @images;

# what exiftool writes: into every picture the same (each format takes
# what it can hold), into every video and voice memo the same
run('exiftool', '-q', '-q', '-overwrite_original',
    '-GPSLatitude=48.8584', '-GPSLatitudeRef=N', '-GPSLongitude=2.2945',
    '-GPSLongitudeRef=E', '-GPSAltitude=35',
    '-SerialNumber=SN-BODY-656565', '-XMP-aux:SerialNumber=SN-AUX-656565',
    '-OwnerName=Alice Owner65', '-Artist=Alice Artist65',
    '-XMP-dc:Creator=Alice Creator65', '-IPTC:By-line=Alice Byline65',
    '-Comment=secret comment 65',
    '-ImageDescription=secret description 65',
    '-UserComment=secret usercomment 65',
    '-XMP-dc:Description=secret xmp description 65',
    '-IPTC:Keywords=secretkeyword65',
    '-PNG:Description=secret png description 65',
    "-PNG:Title=secret \x{e2}\x{98}\x{82} title 65",     # not Latin-1: iTXt
    '-Orientation#=6', "-ThumbnailImage<=$d/thumb.jpg",
    map { "$d/$_" } @images);
run('exiftool', '-q', '-q', '-overwrite_original',
    '-Keys:GPSCoordinates=48.8584, 2.2945, 35',
    '-UserData:Author=Alice Author65', '-Keys:Author=Alice KeysAuthor65',
    '-UserData:SerialNumber=SN-UDTA-656565',
    '-Keys:Description=secret keys description 65',
    '-Keys:Keywords=secretkeyword65', '-ItemList:Keyword=secretkeyword65',
    '-ItemList:Description=secret itemlist description 65',
    '-XMP-dc:Creator=Alice Creator65', map { "$d/$_" } @av);

my %M = map { $_ => $t->read_file($_) } @images, @av, 'voice.mp3';
my $THUMB = $t->read_file('thumb.jpg');

# exiftool's view of files: { name => { 'Group:Tag' => value } }
sub exif {
    my (%files) = @_;           # name => path
    my @names = sort keys %files;
    my $json = run('exiftool', '-j', '-a', '-G1', '-ee', '-q', '-q',
                   map { $files{$_} } @names);
    my $all = eval { JSON::PP->new->decode($json) } // [];
    my %by = map { $_->{SourceFile} => $_ } @$all;
    return { map { $_ => $by{$files{$_}} // {} } @names };
}

# the tags each kind of file was given, as exiftool names them: each must
# be in the original (the oracle sees it) and gone after
my @IMG = qw(GPS:GPSLatitude GPS:GPSLongitude GPS:GPSAltitude
             ExifIFD:SerialNumber XMP-aux:SerialNumber ExifIFD:OwnerName
             IFD0:Artist XMP-dc:Creator IFD0:ImageDescription
             ExifIFD:UserComment XMP-dc:Description IFD1:ThumbnailImage
             IFD1:ThumbnailLength);
my @QT = qw(Keys:GPSCoordinates UserData:Author Keys:Author
            UserData:SerialNumber Keys:Description Keys:Keywords
            XMP-dc:Creator);
my @MP4 = (@QT, qw(UserData:LocationInformation ItemList:Title
                   ItemList:Artist ItemList:Comment ItemList:Description
                   ItemList:Keyword));
my %PLANTED = (
    'base.jpg' => [@IMG, qw(IPTC:By-line IPTC:Keywords File:Comment)],
    'prog.jpg' => [@IMG, qw(IPTC:By-line IPTC:Keywords File:Comment)],
    'img.png' => [@IMG, qw(IPTC:By-line IPTC:Keywords PNG:Artist
                           PNG:Comment PNG:Description PNG:Title)],
    'img.webp' => [@IMG],
    'img.heic' => [@IMG],
    'img.avif' => [@IMG],
    'clip.mp4' => [@MP4],
    'clip.mov' => [@QT, qw(UserData:GPSCoordinates UserData:Title
                           UserData:Artist UserData:Comment)],
    'voice.m4a' => [@MP4],
);
# any tag of these names, in any group, after: location, serials, owner,
# free text, thumbnails
my $SENSITIVE = qr{:(?:GPS\w*|Location\w*|\w*SerialNumber|OwnerName|Artist
                      |Creator|By-line|Author|Comment|ImageDescription
                      |UserComment|Description|Keywords?|Title|Subject
                      |ThumbnailImage|ThumbnailOffset|ThumbnailLength
                      |PreviewImage)$}x;
# what was written as text, anywhere in the bytes
my $MARKS = qr{Alice|secret|SN-(?:BODY|AUX|UDTA)-656565};

my $before = exif(map { $_ => "$d/$_" } @images, @av);
for my $f (@images, @av) {
    my @missing = grep { !defined $before->{$f}{$_} } @{ $PLANTED{$f} };
    is_deeply(\@missing, [], "$f: the original has every tag the test "
              . 'looks for (' . scalar(@{ $PLANTED{$f} }) . ')');
}
for my $f (grep { /\.jpg$/ } @images) {
    is($before->{$f}{'IFD0:Orientation'}, 'Rotate 90 CW',
       "$f: the original says Orientation 6");
}
like($before->{$_}{'ICC_Profile:ProfileDescription'} // '', qr/\S/,
     "$_: the original has an ICC profile") for sort keys %ICC_IN;

# the PNG's chunks: text of every kind and Exif, before
sub png_chunks {
    my ($png) = @_;
    my ($p, @c) = (8);
    while ($p + 8 <= length $png) {
        my ($len, $type) = unpack('Na4', substr($png, $p, 8));
        push @c, $type;
        $p += 12 + $len;
    }
    return @c;
}
{
    my %have = map { $_ => 1 } png_chunks($M{'img.png'});
    is_deeply([grep { $have{$_} } qw(tEXt zTXt iTXt tIME eXIf iCCP)],
              [grep { $_ ne 'iCCP' || $ICC }
                    qw(tEXt zTXt iTXt tIME eXIf iCCP)],
              'img.png: the original has tEXt, zTXt, iTXt, tIME and eXIf '
              . 'chunks (and iCCP)');
}

# decoded: the pixels of a picture, every frame and sample of the others
sub decoded {
    my ($path) = @_;
    return $path =~ /\.(?:mp4|mov|m4a)$/
        ? join("\n", grep { !/^#/ } split /\n/,
               run('ffmpeg', $Q, qw(-v error -i), $path,
                   qw(-map 0 -f framemd5 -)))
        : sha256_hex(run($IM, $path, 'rgba:-'));
}

my %TYPE = ('base.jpg' => 'image/jpeg', 'prog.jpg' => 'image/jpeg',
            'img.png' => 'image/png', 'img.webp' => 'image/webp',
            'img.heic' => 'image/heic', 'img.avif' => 'image/avif',
            'clip.mp4' => 'video/mp4', 'clip.mov' => 'video/quicktime',
            'voice.m4a' => 'audio/mp4', 'voice.mp3' => 'audio/mpeg');
# what each is called on the user's phone
my %NAME = ('base.jpg' => 'IMG_6501.JPG', 'prog.jpg' => 'IMG_6502.JPG',
            'img.png' => 'Screenshot_6503.png', 'img.webp' => 'IMG_6504.webp',
            'img.heic' => 'IMG_6505.HEIC', 'img.avif' => 'IMG_6506.avif',
            'clip.mp4' => 'VID_6507.mp4', 'clip.mov' => 'IMG_6508.MOV',
            'voice.m4a' => 'Voice 6509.m4a', 'voice.mp3' => 'Voice 6511.mp3');

# --- the shipped stack -------------------------------------------------------

# models the shipped backend.conf has none of: a video alone and a voice
# alone to fal, and one that needs the originals (strip=off)
my $EXTRA = <<'EOF';
# t/65: a video, a voice, and the originals
model fal-ai/t65-video provider=fal inputs=video;
model fal-ai/t65-voice provider=fal inputs=audio;
model fal-ai/t65-originals provider=fal inputs=image strip=off;
EOF

my $S = PEShipped->new(t => $t, extra => $EXTRA, run => 0.6);
is($S->check_rc, 0, 'the shipped backend.conf with the test\'s models '
   . 'passes -t') or diag($S->check_out);
my $EDGE = $S->edge;
my $eport = $S->eport;

sub field { [$_[0], undef, undef, $_[1]] }
sub part { [$_[0], $NAME{$_[1]}, $TYPE{$_[1]}, $_[2] // $M{$_[1]}] }

my @jobs;

# a job through the edge: 202, and its submission at the stand-in
sub job {
    my ($f, $who, $model, $role, %o) = @_;
    my $prompt = "t65: $f to $who ($model)" . ($o{tag} // '');
    my @parts = (field('prompt', $prompt), part($role, $f));
    # the model before the file or after it
    if ($o{model_first}) {
        unshift @parts, field('model', $model);
    } else {
        push @parts, field('model', $model);
    }
    my $name = "$f to $who" . ($o{tag} // '');
    my $r = $S->upload(@parts);
    is($r->{status}, 202, "$name: 202 through the edge") or diag($r->{raw});
    my $j = { f => $f, who => $who, role => $role, prompt => $prompt,
              id => $r->{json}{id} // 'none', user => $r->{user},
              name => $name };
    push @jobs, $j;
    return $j;
}

# the submission of a job: the request, its body decoded
sub submitted {
    my ($j) = @_;
    my @s = $S->submission($j->{who}, $j->{prompt});
    is(scalar @s, 1, "$j->{name}: one submission at $j->{who}");
    $j->{req} = $s[0] // { body => '{}' };
    $j->{body} = eval { decode_json($j->{req}{body}) } // {};
    return $j->{body};
}

# inline media as each provider carries it: the bytes
sub inline_bytes {
    my ($j) = @_;
    my $b = submitted($j);
    my ($type, $b64);
    if ($j->{who} eq 'fal') {
        ($type, $b64) = ($b->{image_url} // '')
                        =~ m{^data:([^;,]+);base64,(.*)$}s;
    } elsif ($j->{who} eq 'seedance') {
        ($type, $b64) = ($b->{content}[1]{image_url}{url} // '')
                        =~ m{^data:([^;,]+);base64,(.*)$}s;
    } elsif ($j->{who} eq 'veo') {
        my $img = $b->{instances}[0]{image} // {};
        ($type, $b64) = ($img->{mimeType}, $img->{bytesBase64Encoded});
    } elsif ($j->{who} eq 'kling') {
        ($type, $b64) = ($TYPE{$j->{f}}, $b->{image});        # raw base64
    }
    ok(defined $b64 && length $b64, "$j->{name}: inline at the provider")
        or return '';
    is($type, $TYPE{$j->{f}}, "$j->{name}: as $TYPE{$j->{f}}");
    return decode_base64($b64);
}

# A link: the stand-in fetches it at submission (fal does), and the spool
# file goes once the provider runs the job (upload=0).  Its submission is
# held 2 s (an injected "slow"), in which the test fetches the link
# through the edge too; the stand-in's fetch must be the same bytes.
sub linked_job {
    my ($f, $model, $field) = @_;
    $t->standin_faults('fal', 'submit slow 2');
    my $j = job($f, 'fal', $model, $field =~ /^video/ ? 'video' : 'audio');
    my $b = submitted($j);
    my $link = $b->{$field} // '';
    like($link, qr{^\Q$EDGE\E/v1/media/}, "$j->{name}: by a link at the "
         . 'edge');
    my $got = http_get($eport, $link =~ s{^\Q$EDGE\E}{}r);
    is($got->{status}, 200, "$j->{name}: the link fetched through the edge");
    my $task;
    for (1 .. 100) {
        ($task) = grep { ($_->{input}{prompt} // '') eq $j->{prompt}
                         && $_->{fetched}{$field} }
                  values %{ $t->standin_jobs('fal') };
        last if $task;
        sleep 0.05;
    }
    my $fetched = $task->{fetched}{$field} // {};
    is($fetched->{status}, 200, "$j->{name}: fetched by the provider");
    is($fetched->{sha256}, sha256_hex($got->{body} // ''),
       "$j->{name}: the provider got the bytes the test fetched");
    is($fetched->{type}, $TYPE{$f}, "$j->{name}: as $TYPE{$f}");
    $j->{got} = $got->{body} // '';
    return $j;
}

# --- the jobs ----------------------------------------------------------------

my $FAL = 'fal-ai/kling-video/v2.1/standard/image-to-video';
my %WHO = ('base.jpg' => ['fal', $FAL, 'file'],
           'prog.jpg' => ['kling', 'kling-v2-1', 'file'],
           'img.png' => ['veo', 'veo-3.1-generate-preview', 'image'],
           'img.webp' => ['seedance', 'seedance-1-0-pro-250528', 'image'],
           'img.heic' => ['fal', $FAL, 'file'],
           'img.avif' => ['fal', $FAL, 'file']);

# the links first, one at a time (each takes the one injected slow)
my %J;
$J{'clip.mp4'} = linked_job('clip.mp4', 'fal-ai/t65-video', 'video_url');
$J{'clip.mov'} = linked_job('clip.mov', 'fal-ai/t65-video', 'video_url');
$J{'voice.m4a'} = linked_job('voice.m4a', 'fal-ai/t65-voice', 'audio_url');
my $mp3 = linked_job('voice.mp3', 'fal-ai/t65-voice', 'audio_url');

$J{$_} = job($_, @{ $WHO{$_} }) for @images;
$J{$_}{got} = inline_bytes($J{$_}) for @images;

# strip=off: the model part first, so the backend knows before a byte
my $off = job('base.jpg', 'fal', 'fal-ai/t65-originals', 'image',
              model_first => 1, tag => ' (strip=off, model first)');
$off->{got} = inline_bytes($off);
# the same model after the file: too late, the file is stripped
my $late = job('base.jpg', 'fal', 'fal-ai/t65-originals', 'image',
               tag => ' (strip=off, model after the file)');
$late->{got} = inline_bytes($late);

# --- what the providers received ---------------------------------------------

for my $f (@images, @av) {
    $t->write_file("out-$f", $J{$f}{got});
}
$t->write_file("out-late", $late->{got});
my $after = exif((map { $_ => "$d/out-$_" } @images, @av),
                 late => "$d/out-late");
$PLANTED{late} = $PLANTED{'base.jpg'};

for my $f (@images, @av, 'late') {
    my $j = $f eq 'late' ? $late : $J{$f};
    my $x = $after->{$f};
    my $src = $f eq 'late' ? 'base.jpg' : $f;
    ok(length $j->{got}, "$j->{name}: the provider received it");
    isnt(sha256_hex($j->{got}), sha256_hex($M{$src}),
         "$j->{name}: not the bytes uploaded");
    ok($x->{'File:FileType'}, "$j->{name}: exiftool reads it as "
       . ($x->{'File:FileType'} // 'nothing'));
    my %names = map { (split /:/)[1] => 1 } @{ $PLANTED{$f} };
    my @left = grep { $names{(split /:/, $_, 2)[1] // ''} || /$SENSITIVE/ }
               sort keys %$x;
    is_deeply(\@left, [], "$j->{name}: no GPS, serial, owner, artist, "
              . 'creator, by-line, author, comment, description, keyword, '
              . 'title or thumbnail tag left (' . join(' ', @{ $PLANTED{$f} })
              . ')') or diag(join "\n", map { "$_: $x->{$_}" }
                                 grep { defined } @left[0 .. 9]);
    # of Exif, XMP and IPTC, what rendering needs at most
    my @meta = grep { /^(?:IFD\d|ExifIFD|GPS|InteropIFD|SubIFD\d*|MakerNotes
                          |XMP(?:-[\w-]+)?|IPTC|Photoshop):/x
                      && $_ ne 'IFD0:Orientation' } sort keys %$x;
    is_deeply(\@meta, [], "$j->{name}: of Exif, XMP and IPTC nothing but "
              . 'the Orientation left')
        or diag(join ' ', grep { defined } @meta[0 .. 9]);
    my @marks = $j->{got} =~ /($MARKS)/g;
    is_deeply(\@marks, [], "$j->{name}: none of the text written is in its "
              . 'bytes');
    ok(index($j->{got}, $THUMB) < 0, "$j->{name}: nor the thumbnail")
        if $src !~ /\.(?:mp4|mov|m4a)$/;
    is(decoded("$d/out-$f"), decoded("$d/$src"),
       "$j->{name}: " . ($src =~ /\.(?:mp4|mov|m4a)$/
                         ? 'every frame and sample' : 'every pixel')
       . ' the same');
    if ($ICC_IN{$src}) {
        my @icc = grep { /^ICC(?:-header|_Profile):/ }
                  keys %{ $before->{$src} };
        is_deeply({ map { $_ => $x->{$_} } @icc },
                  { map { $_ => $before->{$src}{$_} } @icc },
                  "$j->{name}: the ICC profile kept (" . scalar(@icc)
                  . ' tags the same)');
    }
    if ($src =~ /\.jpg$/) {
        is($x->{'IFD0:Orientation'}, 'Rotate 90 CW',
           "$j->{name}: Orientation 6 kept");
    }
}

# the PNG's chunks after: no text, no time (an eXIf may stay, for the
# Orientation alone: see above); the profile kept
{
    my %have = map { $_ => 1 } png_chunks($J{'img.png'}{got});
    is_deeply([grep { $have{$_} } qw(tEXt zTXt iTXt tIME)], [],
              'img.png to veo: no tEXt, zTXt, iTXt or tIME chunk left');
    ok($have{iCCP}, '... its iCCP kept') if $ICC;
}

# strip=off with the model first: the original, byte for byte
is(sha256_hex($off->{got}), sha256_hex($M{'base.jpg'}),
   "$off->{name}: the provider got the original byte for byte");

# a type without a stripper passes as it came, and the job says so
is(sha256_hex($mp3->{got}), sha256_hex($M{'voice.mp3'}),
   "$mp3->{name}: no stripper for audio/mpeg: the provider got it as "
   . 'uploaded');

# --- the job and the export say it -------------------------------------------

for my $j (@jobs) {
    my $view = $S->edge_get("/v1/jobs/$j->{id}", $j->{user});
    is($view->{status}, 200, "$j->{name}: the job read through the edge");
    my $export = $S->edge_get('/v1/subjects/me/export', $j->{user});
    my ($e) = grep { ($_->{id} // '') eq $j->{id} }
              @{ $export->{json}{jobs} // [] };
    if ($j == $off || $j == $mp3) {
        my $want = $j == $off ? 'off' : 'unsupported';
        is($view->{json}{stripped}, $want, "$j->{name}: the job says "
           . "\"stripped\": \"$want\"");
        is($e->{stripped}, $want, "$j->{name}: ... and so does the export");
    } else {
        like($view->{json}{stripped} // '', qr/^[1-9]\d*$/,
             "$j->{name}: the job says how many items went ("
             . ($view->{json}{stripped} // 'nothing') . ')');
        is($e->{stripped}, $view->{json}{stripped},
           "$j->{name}: ... and so does the export");
    }
}

# --- a JPEG cut in the middle: refused, nothing sent -------------------------

sub settled_requests {
    my $count = -1;
    for (1 .. 40) {
        my $now = grep { $_->{method} ne 'GET' } $S->all_requests;
        return $now if $now == $count;
        $count = $now;
        sleep 0.1;
    }
    return $count;
}

my $sent = settled_requests();
my $keys = scalar @{ $t->redis_query($S->rport, ['KEYS', 'pe:job:*']) };
{
    my $cut = substr($M{'base.jpg'}, 0, int(length($M{'base.jpg'}) / 2));
    my $r = $S->upload(field('prompt', 't65: refused, a JPEG cut in half'),
                       ['image', 'IMG_6510.JPG', 'image/jpeg', $cut],
                       field('model', 'veo-3.1-generate-preview'));
    is($r->{status}, 415, 'a JPEG cut in the middle: 415 through the edge')
        or diag($r->{raw});
    is($r->{json}{error}, 'upload_malformed', '... upload_malformed');
    is($r->{json}{role}, 'image', '... naming its role');
    like($r->{json}{reason} // '', qr/\S/, '... and why ('
         . ($r->{json}{reason} // '') . ')');
}
is(settled_requests(), $sent, '... nothing reached any provider');
is(scalar(grep { index($_->{body} // '', 'refused, a JPEG') >= 0 }
          $S->all_requests), 0, '... nothing of it in any call');
is(scalar @{ $t->redis_query($S->rport, ['KEYS', 'pe:job:*']) }, $keys,
   '... nor a job left in Redis');

# --- the end -----------------------------------------------------------------

my $status = $S->stop;
my $blog = $t->read_file('backend.log') // '';
unlike($blog, qr/Sanitizer|runtime error:/, 'the backend: no sanitizer '
       . 'report');
is($status >> 8, 0, 'the backend exits cleanly');

done_testing();
