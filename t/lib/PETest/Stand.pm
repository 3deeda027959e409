package PETest::Stand;

# Stand-ins for a PETest object, the programs on the other side of what
# is tested: the provider stand-ins (t/lib/NAME-standin: fal, Replicate,
# Kling) and what they received, sent and were told to answer; and the
# upstream stand-in behind nginx, a real HTTP/1.1 server that records
# every request (head, body, whether the body came whole).
#
# These are methods of PETest, which inherits them: call them on the
# object PETest->new returns, never on this package.

use strict;
use warnings;

use IO::Socket::INET;
use JSON::PP ();
use POSIX ();
use Time::HiRes qw(time sleep);

use PETest::HTTP qw(wait_port _dechunk);

# A provider stand-in (t/lib/NAME-standin: fal, replicate, kling) on a
# free port: real HTTP, the provider's wire format, a record of all it
# received.  Options: key => (default 'standin-key'; Kling: access and
# secret, "AK:SK"), run => seconds a task runs, webhook_key => what signs
# its callbacks (fal: a PEM file; Replicate: a whsec_ secret).  Returns
# its port.
sub standin {
    my ($self, $name, %opt) = @_;
    my $port = $self->port($name);
    my $dir = "$self->{dir}/$name";
    $self->{"${name}_pid"} = $self->spawn($name, $^X,
        "$PETest::TOP/t/lib/$name-standin", '--port', $port, '--dir', $dir,
        '--key', $opt{key} // 'standin-key', '--run', $opt{run} // 0.6,
        ($opt{webhook_key} ? ('--webhook-key', $opt{webhook_key}) : ()));
    wait_port($port, 10) or die "$name stand-in did not start:\n"
        . ($self->read_file("$name.log") // '');
    return $port;
}

# whole records only: a stand-in's buffered print of a record over 8 KB
# (an upload's body) reaches the file in pieces, and a last line without
# its newline is still being written
sub _jsonl {
    my ($self, $file) = @_;
    my $text = $self->read_file($file) // '';
    substr($text, rindex($text, "\n") + 1) = '';
    return [ map { JSON::PP::decode_json($_) } grep { length }
             split /\n/, $text ];
}

# what a stand-in received: [{method, uri, headers, body, at}, ...]
sub standin_requests { $_[0]->_jsonl("$_[1]/requests.jsonl") }

# the callbacks it sent: [{url, headers, body, status, answer, at}, ...]
sub standin_callbacks { $_[0]->_jsonl("$_[1]/callbacks.jsonl") }

# the tasks it took: {id => {model, input, fetched, ...}}
sub standin_jobs {
    my ($self, $name) = @_;
    my %jobs;
    for my $f (glob("$self->{dir}/$name/jobs/*.json")) {
        my ($id) = $f =~ m{/([^/]+)\.json$};
        $jobs{$id} = JSON::PP::decode_json(
            $self->read_file("$name/jobs/$id.json"));
    }
    return \%jobs;
}

# answers it gives next, e.g. $t->standin_faults('fal', 'submit 429 1')
sub standin_faults {
    my ($self, $name, @lines) = @_;
    open(my $fh, '>>', "$self->{dir}/$name/faults") or die "faults: $!";
    print $fh map { "$_\n" } @lines;
    close $fh;
}

# stops a stand-in started by standin(): from then on nothing listens on
# its port, a provider that cannot be reached
sub standin_stop {
    my ($self, $name, $sig) = @_;
    my $pid = delete $self->{"${name}_pid"} or return;
    $self->stop_pid($pid, $sig // 'TERM');
}

# the fal stand-in, as the older tests name it
sub fal { my ($self, %opt) = @_; return $self->standin('fal', %opt) }
sub fal_requests { $_[0]->standin_requests('fal') }
sub fal_jobs { $_[0]->standin_jobs('fal') }
sub fal_faults { my ($self, @l) = @_; $self->standin_faults('fal', @l) }

# An upstream stand-in: a real HTTP/1.1 server on loopback that records
# every request it receives (method, URI, headers, body and whether the
# body arrived whole) under <prefix>/upstream-<name>/, and answers 200.
sub upstream {
    my ($self, $name, %opt) = @_;
    $name //= 'app';
    my $port = $self->port("up_$name");
    my $dir = "$self->{dir}/upstream-$name";
    mkdir $dir;

    my $listen = IO::Socket::INET->new(Listen => 64, LocalAddr => '127.0.0.1',
                                       LocalPort => $port, Proto => 'tcp',
                                       ReuseAddr => 1)
        or die "upstream $name: listen $port: $!";

    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        $SIG{CHLD} = 'IGNORE';
        my $n = 0;
        while (my $c = $listen->accept) {
            $n++;
            my $kid = fork();
            if (defined $kid && $kid == 0) {
                close $listen;
                _upstream_serve($c, "$dir/" . sprintf('%05d', $n), %opt);
                POSIX::_exit(0);
            }
            close $c;
        }
        POSIX::_exit(0);
    }
    close $listen;
    push @{ $self->{pids} }, $pid;
    return $port;
}

sub _upstream_serve {
    my ($c, $base, %opt) = @_;
    binmode $c;
    my $buf = '';
    my $complete = 0;

    local $SIG{ALRM} = sub { die "timeout\n" };
    alarm(30);

    eval {
        while ($buf !~ /\r\n\r\n/) {
            my $r = sysread($c, $buf, 65536, length $buf);
            die "closed in headers\n" unless $r;
        }
        my ($head, $body) = split /\r\n\r\n/, $buf, 2;
        _record($base, head => $head);

        my $len = $head =~ /^content-length:\s*(\d+)/mi ? $1 : undef;
        my $chunked = $head =~ /^transfer-encoding:\s*chunked/mi;

        if (defined $len) {
            while (length($body) < $len) {
                my $r = sysread($c, $body, 65536, length $body);
                last unless $r;
            }
            $complete = length($body) >= $len;
        } elsif ($chunked) {
            my $raw = $body;
            my ($decoded, $done) = _dechunk($raw);
            while (!$done) {
                my $r = sysread($c, $raw, 65536, length $raw);
                last unless $r;
                ($decoded, $done) = _dechunk($raw);
            }
            $body = $decoded;
            $complete = $done;
        } else {
            $complete = 1;
        }

        _record($base, body => $body);
        _record($base, complete => $complete ? 1 : 0);

        my $answer = $opt{body} // qq({"received":) . length($body) . "}\n";
        print $c "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            . ($opt{headers} // '')
            . "Content-Length: " . length($answer)
            . "\r\nConnection: close\r\n\r\n$answer";
    };
    alarm(0);
    _record($base, complete => 0) if $@ && !-e "$base.complete";
    close $c;
}

sub _record {
    my ($base, $what, $data) = @_;
    open(my $fh, '>', "$base.$what") or return;
    binmode $fh;
    print $fh $data;
    close $fh;
}

# what an upstream stand-in received: [{head, body, complete}, ...]
sub upstream_requests {
    my ($self, $name) = @_;
    $name //= 'app';
    my $dir = "$self->{dir}/upstream-$name";
    my %seen;
    for my $f (glob("$dir/*")) {
        my ($n, $what) = $f =~ m{/(\d+)\.(\w+)$} or next;
        $seen{$n}{$what} = $self->read_file($f);
    }
    return [ map { $seen{$_} } sort keys %seen ];
}

# what the stand-in received after a mark: my $m = $t->upstream_mark;
# ...; my @new = $t->upstream_since($m)
sub upstream_mark {
    my ($self, $name) = @_;
    return scalar @{ $self->upstream_settle($name) };
}

sub upstream_since {
    my ($self, $mark, $name) = @_;
    my $r = $self->upstream_settle($name);
    return @$r[$mark .. $#$r];
}

# waits a little for the stand-in to finish writing what it received
sub upstream_settle {
    my ($self, $name, $want) = @_;
    my $deadline = time + 5;
    while (time < $deadline) {
        my $r = $self->upstream_requests($name);
        my $done = grep { exists $_->{complete} } @$r;
        return $r if $done >= ($want // 0) && $done == @$r;
        sleep 0.05;
    }
    return $self->upstream_requests($name);
}

1;
