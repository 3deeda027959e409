#!/usr/bin/perl

# The backend's cost, side by side in one run:
#
#  1. accepted jobs per second for a 100 KB image with a prompt, through
#     the edge (consent, signed context) into privacy-backend (multipart
#     parsed as it streams, spooled encrypted and fsync'd, the job in Redis
#     before the 202), against nginx alone taking the same upload and
#     answering 202 itself (a sink behind the same proxy);
#  2. the same jobs into a backend that strips metadata (the default)
#     against one with strip_metadata off: what stripping costs;
#  3. the backend's resident memory while one 500 MB video streams into
#     it: before, the most seen during, and after.
#
# The worker runs as in production but its provider is a closed port: it
# costs a failed connect per job now and then, not a stand-in's CPU on
# these two cores.  The machines are noisy: read medians and ratios.

use strict;
use warnings;

use IO::Socket::INET;
use Time::HiRes qw(time sleep);

use lib 't/lib', 'bench';
use PETest;
use PEBench;

my $MODEL = 'fal-ai/kling-video/v2.1/standard/image-to-video';
my $B = 'benchBoundary51e2';

my ($bport, $bport2, $rport, $bpid);

sub setup {
    my ($t) = @_;
    my $d = $t->dir;
    $rport = $t->redis;
    $bport = $t->port('backend');
    mkdir "$d/spool";
    $t->write_file('context.key', 'k' x 32);
    $t->write_file('data.key', '0123456789abcdef' x 4);
    local $ENV{PE_BENCH_FAL_KEY} = 'unused';
    my $conf = <<"CONF";
listen        127.0.0.1:$bport;
redis         127.0.0.1:$rport;
spool         $d/spool;
context_key   $d/context.key;
data_key      $d/data.key;
public_url    http://127.0.0.1:$bport;
retention     upload=0 output=24h record=30d prompt=0;
provider      fal base=http://127.0.0.1:1 key_env=PE_BENCH_FAL_KEY timeout=5s;
model         "$MODEL" provider=fal;
CONF
    $bpid = $t->backend($conf);
    # the same, metadata left in: what stripping costs
    $bport2 = $t->port('backend2');
    # its own database: its own stream, so neither worker has the
    # other's jobs to do
    (my $conf2 = $conf) =~ s/127\.0\.0\.1:$bport;/127.0.0.1:$bport2;/;
    $conf2 =~ s/^(redis\s+127\.0\.0\.1:$rport);/$1 db=1;/m;
    mkdir "$d/spool2";
    $conf2 =~ s{\Q$d/spool\E}{$d/spool2};
    my $f = $t->write_file('backend2.conf', "${conf2}strip_metadata off;\n");
    $t->spawn('backend2', $PETest::BACKEND, '-c', $f);
    wait_port($bport2, 10) or die "the second backend did not start";
}

my $http = <<'NGX';
    access_log off;
    client_body_buffer_size 256k;
    privacy_key %%DIR%%/context.key;
    privacy_consent_category ai_processing explicit;
    privacy_consent_cookie pe_consent kv;
    privacy_subject $cookie_session;

    upstream backend {
        server 127.0.0.1:%%PORT_backend%%;
        keepalive 32;
    }

    upstream backend2 {
        server 127.0.0.1:%%PORT_backend2%%;
        keepalive 32;
    }

    upstream sink {
        server 127.0.0.1:%%PORT_sink%%;
        keepalive 32;
    }

    server {
        listen 127.0.0.1:%%PORT%% backlog=1024;

        location = /v1/jobs {
            privacy_require ai_processing;
            privacy_upload_max_size 1m;
            privacy_upload_type image/png 1m;
            privacy_upload_sniff on;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Privacy-Context $privacy_context;
            proxy_pass http://backend;
        }

        # the same, into the backend that strips nothing
        location = /v1/jobs-unstripped {
            privacy_require ai_processing;
            privacy_upload_max_size 1m;
            privacy_upload_type image/png 1m;
            privacy_upload_sniff on;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Privacy-Context $privacy_context;
            proxy_pass http://backend2/v1/jobs;
        }

        # nginx alone: the same upload read and answered 202
        location = /bare {
            client_max_body_size 1m;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://sink;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_sink%%;
        location / {
            return 202 '{"id":"00000000000000000000000000000000","status":"queued"}';
        }
    }
NGX

my $b = PEBench->new(http => $http, setup => \&setup);
my $t = $b->t;

srand(20261122);
# a well-formed PNG (the stripper reads its chunks) of random pixels' size
require Compress::Zlib;
sub png_chunk {
    my ($type, $data) = @_;
    return pack('N', length $data) . $type . $data
         . pack('N', Compress::Zlib::crc32($type . $data));
}
my $png = substr(sample('png', 64), 0, 33);      # signature and IHDR
my $idat = pack('C*', map { int(rand(256)) } 1 .. 100 * 1024 - 33 - 24);
# and what a phone or an editor writes beside the pixels, 2 KB of it
$png .= png_chunk('tEXt', "Comment\0" . ('note ' x 200))
      . png_chunk('tIME', "\x07\xea\x0c\x01\x0c\x00\x00");
$idat = substr($idat, 0, length($idat) - length($png) + 33);
$png .= png_chunk('IDAT', $idat) . png_chunk('IEND', '');
my $body = $t->write_file('job.bin', multipart_body($B,
    ['file', 'cat.png', 'image/png', $png],
    ['prompt', undef, undef, 'a cat surfing'],
    ['model', undef, undef, $MODEL],
    ['params', undef, undef, '{"duration":"5"}']));

$b->header('privacy-backend: accepted jobs, 100 KB image');
my %post = (script => 'bench/post.lua',
            env => { PE_BENCH_BODY => $body,
                     PE_BENCH_TYPE => "multipart/form-data; boundary=$B" },
            headers => ['Cookie: pe_consent=ai_processing:1; session=bench']);
# the same location under two names (a query it ignores): the noise
$b->compare('A/A: stripping off vs itself', '/v1/jobs-unstripped',
            '/v1/jobs-unstripped?a', %post);
$b->compare('stripping on vs off (target 0.95)', '/v1/jobs-unstripped',
            '/v1/jobs', %post);

$b->compare('jobs accepted: edge+backend vs nginx', '/bare', '/v1/jobs',
            %post);

my $jobs = $t->redis_query($rport, ['XLEN', 'pe:jobs']);
print "  jobs recorded in Redis during the run: $jobs\n";

# --- resident memory while a 500 MB video streams in ---------------------

sub rss_kb {
    open(my $fh, '<', "/proc/$bpid/status") or return 0;
    while (<$fh>) { return $1 if /^VmRSS:\s+(\d+) kB/ }
    return 0;
}

my $size = ($ENV{BENCH_VIDEO_MB} // 500) * 1024 * 1024;
# ftyp, then one mdat box of the rest: well formed to the stripper
my $ftyp = substr(sample('mp4', 64), 0, 32);
my $head = $ftyp . pack('N', $size - 32) . 'mdat';
my $pre = "--$B\r\nContent-Disposition: form-data; name=\"file\"; "
        . "filename=\"v.mp4\"\r\nContent-Type: video/mp4\r\n\r\n";
my $post = "\r\n--$B\r\nContent-Disposition: form-data; name=\"model\""
         . "\r\n\r\n$MODEL\r\n--$B--\r\n";
my $block = pack('C*', map { int(rand(256)) } 1 .. 1024 * 1024);
$block =~ s/\r\n--/\r\n-x/g;
my $len = length($pre) + $size + length($post);

# the context as the edge would sign it, straight to the backend
my $now = time;
my $claims = sprintf('{"con":["ai_processing"],"exp":%d,"gpc":false,'
                     . '"iat":%d,"jti":"b","reg":"DE","grp":"eea",'
                     . '"sub":"bench-subject"}', $now + 60, $now);
require Digest::SHA;
my $hp = b64url('{"alg":"HS256","typ":"JWT"}') . '.' . b64url($claims);
my $ctx = "$hp." . b64url(Digest::SHA::hmac_sha256($hp, 'k' x 32));

my $rss0 = rss_kb();
my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $bport)
    or die "backend: $!";
print $s "POST /v1/jobs HTTP/1.1\r\nHost: bench\r\nPrivacy-Context: $ctx\r\n"
    . "Content-Type: multipart/form-data; boundary=$B\r\n"
    . "Content-Length: $len\r\nConnection: close\r\n\r\n$pre$head";
my ($sent, $max, $t0) = (length $head, $rss0, time);
my @samples;
while ($sent < $size) {
    my $n = $size - $sent < length $block ? $size - $sent : length $block;
    print $s substr($block, 0, $n);
    $sent += $n;
    if (($sent / length $block) % 16 == 0) {
        my $r = rss_kb();
        push @samples, $r;
        $max = $r if $r > $max;
    }
}
print $s $post;
my $answer = join '', <$s>;
my $secs = time - $t0;
my ($status) = $answer =~ m{^HTTP/1\.1 (\d+)};
my $rss1 = rss_kb();

printf "# backend RSS while a %d MB video streams in (%.1f s, %s)\n",
       $size / 1024 / 1024, $secs, $status // 'no answer';
printf "%-34s %8.1f MB before, %6.1f MB most during, %6.1f MB after\n",
       'backend resident memory', $rss0 / 1024, $max / 1024, $rss1 / 1024;
printf "%-34s %8.1f MB over %d samples, target < 64 MB\n",
       '  growth while streaming', ($max - $rss0) / 1024, scalar @samples;
