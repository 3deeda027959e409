package PETest::Redis;

# Redis for a PETest object: a real redis-server on a free loopback port
# in the test's prefix (stopped and started again on the same port, with a
# password, a unix socket or an append-only file when asked), and two
# small clients over a raw socket: one command and its first reply line,
# or several commands on one connection with the last reply parsed.
#
# These are methods of PETest, which inherits them: call them on the
# object PETest->new returns, never on this package.

use strict;
use warnings;

use IO::Socket::INET;

use PETest::HTTP qw(wait_port);

# A real redis-server on a free loopback port, nothing saved to disk.
# Options: password => ..., name => ... (for several), unix => 1,
# persist => 1.  Returns its port; called again with the same name after
# redis_stop, the same server on the same port.
sub redis {
    my ($self, %opt) = @_;
    my $name = $opt{name} // 'redis';
    my $port = $self->port($name);
    my $dir = "$self->{dir}/$name";
    mkdir $dir;
    my $bin = -x '/usr/bin/redis-server' ? '/usr/bin/redis-server'
                                         : 'redis-server';
    # persist => 1: an append-only file, so a restart keeps the data
    my @cmd = ($bin, '--bind', '127.0.0.1', '--port', $port, '--save', '',
               '--appendonly', $opt{persist} ? 'yes' : 'no',
               '--appendfsync', 'always', '--dir', $dir,
               '--daemonize', 'no');
    push @cmd, '--requirepass', $opt{password} if defined $opt{password};
    # unix => 1: a socket too, at <dir>/<name>/redis.sock
    push @cmd, '--unixsocket', "$dir/redis.sock", '--unixsocketperm', '777'
        if $opt{unix};
    $self->{redis_pid}{$name} = $self->spawn($name, @cmd);
    wait_port($port, 10) or die "redis-server did not listen on $port:\n"
        . ($self->read_file("$name.log") // '');
    return $port;
}

# stops a Redis started by redis() (its data stays if persist => 1)
sub redis_stop {
    my ($self, $name, $sig) = @_;
    my $pid = delete $self->{redis_pid}{$name // 'redis'} or return;
    $self->stop_pid($pid, $sig // 'TERM');
}

# one Redis command over a raw socket (inline protocol): the first reply
# line, e.g. "+PONG"
sub redis_cmd {
    my ($self, $port, @args) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port)
        or return undef;
    print $s '*' . @args . "\r\n"
        . join('', map { '$' . length($_) . "\r\n$_\r\n" } @args);
    my $line = <$s>;
    close $s;
    $line =~ s/\r\n$// if defined $line;
    return $line;
}

# Redis commands over one connection, in order (so SELECT applies to what
# follows): the last reply, parsed: a string, a number, undef for nil, an
# array ref, or "ERR ..." prefixed by "-" for an error
sub redis_query {
    my ($self, $port, @cmds) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Timeout => 5)
        or return undef;
    my $reply;
    for my $cmd (@cmds) {
        my @args = ref $cmd ? @$cmd : ($cmd);
        print $s '*' . @args . "\r\n"
            . join('', map { '$' . length($_) . "\r\n$_\r\n" } @args);
        $reply = _resp_read($s);
    }
    close $s;
    return $reply;
}

sub _resp_read {
    my ($s) = @_;
    my $line = <$s>;
    return undef unless defined $line;
    $line =~ s/\r\n$//;
    my ($type, $rest) = (substr($line, 0, 1), substr($line, 1));
    return $rest if $type eq '+';
    return "-$rest" if $type eq '-';
    return $rest + 0 if $type eq ':';
    if ($type eq '$') {
        return undef if $rest < 0;
        my $buf = '';
        read($s, $buf, $rest + 2);
        return substr($buf, 0, $rest);
    }
    if ($type eq '*') {
        return undef if $rest < 0;
        return [map { _resp_read($s) } 1 .. $rest];
    }
    return undef;
}

1;
