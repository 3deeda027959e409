package StandIn;

# What the provider stand-ins (fal-standin, replicate-standin,
# kling-standin) share: real HTTP/1.1 on loopback, one process per
# connection, a record of every request received, injected faults, jobs
# kept as files, and callbacks sent later, signed as the provider signs
# them and recorded with the answer they got.
#
# Under DIR:
#   requests.jsonl   one JSON object per request received: n, method, uri,
#                    headers (lowercased names), body
#   callbacks.jsonl  one per callback sent: url, headers, body, status, at
#   jobs/ID.json     each task, as the stand-in keeps it
#   faults           injected answers, one per line, taken in order by the
#                    first call of that kind: "OP STATUS [RETRY-AFTER
#                    [CODE]]" or "OP slow SECONDS" (answer late); CODE is
#                    the provider's own error code where it has one

use strict;
use warnings;

use Digest::SHA qw(sha256_hex);
use Fcntl qw(:flock);
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use MIME::Base64 qw(decode_base64);
use POSIX ();
use Time::HiRes qw(time sleep);

my %TEXT = (200 => 'OK', 201 => 'Created', 202 => 'Accepted',
            400 => 'Bad Request', 401 => 'Unauthorized', 404 => 'Not Found',
            405 => 'Method Not Allowed', 409 => 'Conflict',
            422 => 'Unprocessable Entity', 429 => 'Too Many Requests',
            500 => 'Internal Server Error', 502 => 'Bad Gateway',
            503 => 'Service Unavailable');

# new(name => 'fal-standin', port => N, dir => DIR,
#     error => sub { my ($status, $code) = @_; { ...error body... } })
sub new {
    my ($class, %o) = @_;
    die "$o{name}: --dir is needed\n" unless $o{dir};
    mkdir $o{dir};
    mkdir "$o{dir}/jobs";
    my $listen = IO::Socket::INET->new(Listen => 128,
                                       LocalAddr => '127.0.0.1',
                                       LocalPort => $o{port} // 0,
                                       Proto => 'tcp', ReuseAddr => 1)
        or die "$o{name}: listen $o{port}: $!\n";
    my $self = bless { %o, listen => $listen,
                       json => JSON::PP->new->canonical }, $class;
    $self->{base} = 'http://127.0.0.1:' . $listen->sockport;
    $SIG{CHLD} = 'IGNORE';
    $| = 1;
    print "$o{name}: $self->{base}\n";
    return $self;
}

sub base { $_[0]{base} }
sub json { $_[0]{json} }
sub dir  { $_[0]{dir} }

# serves for ever: handler->($c, $method, $uri, \%headers, $body, $close)
sub run {
    my ($self, $handler) = @_;
    while (my $c = $self->{listen}->accept) {
        my $pid = fork();
        if (defined $pid && $pid == 0) {
            close $self->{listen};
            $self->serve($c, $handler);
            POSIX::_exit(0);
        }
        close $c;
    }
}

sub serve {
    my ($self, $c, $handler) = @_;
    binmode $c;
    local $SIG{ALRM} = sub { POSIX::_exit(0) };
    alarm(60);
    my $buf = '';
    # keep-alive: requests one after another on one connection
    while (1) {
        while ($buf !~ /\r\n\r\n/) {
            my $r = sysread($c, $buf, 65536, length $buf);
            return unless $r;
        }
        my ($head, $rest) = split /\r\n\r\n/, $buf, 2;
        my ($line, @lines) = split /\r\n/, $head;
        my ($method, $uri) = $line =~ m{^(\S+) (\S+) HTTP/1\.[01]$}
            or return $self->answer($c, 400, $self->{error}->(400), 1);
        my %h;
        for (@lines) {
            my ($n, $v) = /^([^:]+):\s*(.*)$/ or next;
            $h{lc $n} = $v;
        }
        my $len = $h{'content-length'} // 0;
        while (length($rest) < $len) {
            my $r = sysread($c, $rest, 65536, length $rest);
            return unless $r;
        }
        my $body = substr($rest, 0, $len);
        $buf = substr($rest, $len);

        $self->append('requests.jsonl', { method => $method, uri => $uri,
                                          headers => \%h, body => $body,
                                          at => time });
        my $close = lc($h{connection} // '') eq 'close';
        $handler->($c, $method, $uri, \%h, $body, $close);
        return if $close;
    }
}

sub append {
    my ($self, $file, $obj) = @_;
    open(my $fh, '>>', "$self->{dir}/$file") or return;
    flock($fh, LOCK_EX);
    syswrite($fh, $self->{json}->encode($obj) . "\n");   # in one piece
    close $fh;
}

# the next injected answer for an operation: [what, arg, code], or undef
sub fault {
    my ($self, $op) = @_;
    open(my $fh, '+<', "$self->{dir}/faults") or return;
    flock($fh, LOCK_EX);
    my @lines = <$fh>;
    my $found;
    for my $i (0 .. $#lines) {
        if ($lines[$i] =~ /^\Q$op\E\s+(\S+)(?:\s+(\S+))?(?:\s+(\S+))?/) {
            $found = [$1, $2, $3];
            splice(@lines, $i, 1);
            last;
        }
    }
    seek($fh, 0, 0);
    truncate($fh, 0);
    print $fh @lines;
    close $fh;
    return $found;
}

sub answer {
    my ($self, $c, $status, $body, $close, $extra) = @_;
    my $b = $self->{json}->encode($body);
    print $c "HTTP/1.1 $status " . ($TEXT{$status} // 'Status') . "\r\n"
        . "Content-Type: application/json\r\n"
        . ($extra // '')
        . "Content-Length: " . length($b) . "\r\n"
        . ($close ? "Connection: close\r\n" : '')
        . "\r\n$b";
}

# an injected fault for op answered (1), or none (0); "slow" waits first
sub injected {
    my ($self, $c, $op, $close) = @_;
    my $f = $self->fault($op) or return 0;
    my ($what, $arg, $code) = @$f;
    if ($what eq 'slow') {
        sleep($arg // 5);
        return 0;
    }
    $self->answer($c, $what, $self->{error}->($what, $code), $close,
                  defined $arg && $arg ne '0' ? "Retry-After: $arg\r\n"
                                              : '');
    return 1;
}

sub job_file { "$_[0]{dir}/jobs/$_[1].json" }

sub load_job {
    my ($self, $id) = @_;
    return undef unless defined $id && $id =~ /^[A-Za-z0-9_-]{1,64}$/;
    open(my $fh, '<', $self->job_file($id)) or return undef;
    local $/;
    return $self->{json}->decode(<$fh>);
}

sub save_job {
    my ($self, $id, $job) = @_;
    open(my $fh, '>', $self->job_file($id) . '.tmp') or return;
    print $fh $self->{json}->encode($job);
    close $fh;
    rename($self->job_file($id) . '.tmp', $self->job_file($id));
}

sub jobs {
    my ($self) = @_;
    return map { m{/([^/]+)\.json$} ? $self->load_job($1) : () }
           glob("$self->{dir}/jobs/*.json");
}

# the media a task names, as the provider gets it: a link is fetched now
# (as the providers do), a data: URI or raw base64 decoded; what came is
# recorded in $job->{fetched}{$name}.  0 when a link could not be fetched.
sub take_media {
    my ($self, $job, $name, $value) = @_;
    return 1 unless defined $value && !ref $value;
    if ($value =~ m{^https?://}) {
        my $res = HTTP::Tiny->new(timeout => 20)->get($value);
        $job->{fetched}{$name} = {
            status => $res->{status},
            length => length($res->{content} // ''),
            sha256 => sha256_hex($res->{content} // ''),
            type => $res->{headers}{'content-type'} };
        return $res->{success} ? 1 : 0;
    }
    my $raw = $value =~ m{^data:[^;]+;base64,(.*)$}s ? decode_base64($1)
            : $value =~ m{^[A-Za-z0-9+/=]+$} ? decode_base64($value)
            : undef;
    $job->{fetched}{inline} = { length => length $raw,
                                sha256 => sha256_hex($raw) }
        if defined $raw;
    return 1;
}

# code->() run in a process of its own after $seconds
sub later {
    my ($self, $seconds, $code) = @_;
    my $pid = fork();
    return if !defined $pid || $pid;
    close $self->{listen};
    sleep($seconds);
    $code->();
    POSIX::_exit(0);
}

# a callback POSTed (body as given, headers added), recorded with its answer
sub callback {
    my ($self, $url, $body, %h) = @_;
    my $res = HTTP::Tiny->new(timeout => 10)->post($url, {
        headers => { 'content-type' => 'application/json', %h },
        content => $body });
    $self->append('callbacks.jsonl', { url => $url, headers => \%h,
                                       body => $body,
                                       status => $res->{status},
                                       answer => $res->{content},
                                       at => time });
    return $res->{status};
}

sub random_id {
    my ($n, $alphabet) = @_;
    my @a = split //, $alphabet // join('', 'a' .. 'z', 0 .. 9);
    return join '', map { $a[int rand @a] } 1 .. $n;
}

1;
