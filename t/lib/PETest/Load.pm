package PETest::Load;

# Load from one client or several at once, for what a rate limit lets
# through under pressure (t/45, bench/limit.pl): keep-alive requests as
# fast as a client goes, each with its own user header, counted by
# status.  A refusal of the module closes the connection (it may come
# before a body the client is still sending): the client connects again.
#
# Plain functions, exported by PETest (use PETest; never this module).

use strict;
use warnings;

use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(time);
use Exporter qw(import);

our @EXPORT_OK = qw(hammer hammer_nodes);

sub _connect {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $port)
        or die "connect $port: $!";
}

# hammer(port, uri, [users], seconds[, per second]): requests with
# "X-User: <user>", the users taken in turn, as fast as they go or paced;
# (passed, refused): 200s and 429s, anything else dies
sub hammer {
    my ($port, $uri, $users, $secs, $per) = @_;
    my $s = _connect($port);
    my ($ok, $no, $i, $buf) = (0, 0, 0, '');
    my $start = time;
    my $end = $start + $secs;
    while (time < $end) {
        if ($per) {
            my $wait = $start + $i / $per - time;
            Time::HiRes::sleep($wait) if $wait > 0;
        }
        my $u = $users->[$i++ % @$users];
        print $s "GET $uri HTTP/1.1\r\nHost: n\r\nX-User: $u\r\n\r\n";
        # a whole response: headers and the body its length says
        while (1) {
            if ($buf =~ /\A(HTTP\/1\.1 (\d+).*?\r\n\r\n)/s) {
                my ($head, $st) = ($1, $2);
                my ($len) = $head =~ /^Content-Length: (\d+)/mi;
                my $whole = length($head) + ($len // 0);
                if (length($buf) >= $whole) {
                    substr($buf, 0, $whole) = '';
                    $st == 200 ? $ok++ : $st == 429 ? $no++ : die "got $st";
                    if ($head =~ /^Connection: close/mi) {
                        $s = _connect($port);
                        $buf = '';
                    }
                    last;
                }
            }
            my $r = sysread($s, $buf, 65536, length $buf);
            die "read: $!" unless $r;
        }
    }
    return ($ok, $no);
}

# hammer_nodes(dir, [ports], uri, [users], seconds[, per second]): one
# client on each port at once, each in a process of its own; the sums.
# per second may be a list, one pace for each port
sub hammer_nodes {
    my ($dir, $ports, $uri, $users, $secs, $pace) = @_;
    my (@files, @pids);
    for my $i (0 .. $#$ports) {
        my $f = "$dir/hammer-$i-" . int(rand(1e9));
        push @files, $f;
        my $pid = fork() // die "fork: $!";
        if ($pid == 0) {
            my $per = ref $pace ? $pace->[$i] : $pace;
            my ($ok, $no) = hammer($ports->[$i], $uri, $users, $secs, $per);
            open(my $fh, '>', $f) or POSIX::_exit(1);
            print $fh "$ok $no\n";
            close $fh;
            POSIX::_exit(0);
        }
        push @pids, $pid;
    }
    waitpid($_, 0) for @pids;
    my ($ok, $no) = (0, 0);
    for my $f (@files) {
        open(my $fh, '<', $f) or die "$f: a client failed";
        my ($a, $b) = split ' ', scalar <$fh>;
        ($ok, $no) = ($ok + $a, $no + $b);
        close $fh;
        unlink $f;
    }
    return ($ok, $no);
}

1;
