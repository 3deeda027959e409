package PETest;

# The privacy-edge test harness, in the style of nginx-tests, core Perl only:
# a temporary prefix per test, the real nginx binary with our module loaded
# on free loopback ports, stand-ins that record what they receive, raw
# socket clients, and a teardown that fails the test when nginx logged an
# alert, a worker crashed or a sanitizer spoke.

use strict;
use warnings;

use Test::More;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use IO::Select;
use JSON::PP ();
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);
use Exporter qw(import);

our @EXPORT = qw(http http_get http_post http2_headers_only http2_request
                 http2_burst status_settled
                 multipart_body sample media_of parse_response wait_port
                 tcf_string b64url jwt_verify);

our $TOP = abs_path(dirname(__FILE__) . '/../..');
our $MODULE = $ENV{PE_MODULE} // "$TOP/build/ngx_http_privacy_module.so";
our $NGINX = $ENV{PE_NGINX} // (-x '/usr/sbin/nginx' ? '/usr/sbin/nginx'
                                                      : 'nginx');
our $BACKEND = $ENV{PE_BACKEND} // "$TOP/build/privacy-backend";

my @instances;

sub new {
    my ($class, %args) = @_;

    plan(skip_all => "module not built: $MODULE") unless -f $MODULE;

    my $self = bless {
        dir => tempdir('pe-test-XXXXXX', TMPDIR => 1,
                       CLEANUP => !$ENV{PE_KEEP}),
        ports => {},
        pids => [],
        nginx_pid => undef,
    }, $class;

    diag("test prefix kept: $self->{dir}") if $ENV{PE_KEEP};
    push @instances, $self;

    # a timeout or Ctrl-C must still stop what the test started: Perl
    # runs END blocks on exit, not when a signal ends it
    for my $sig (qw(TERM INT HUP)) {
        $SIG{$sig} = sub { exit 128 } if !$SIG{$sig} || $SIG{$sig} eq 'DEFAULT';
    }
    return $self;
}

sub dir { $_[0]{dir} }

# a free loopback port, the same one each time for the same name
sub port {
    my ($self, $name) = @_;
    $name //= 'http';
    return $self->{ports}{$name} //= do {
        my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                      LocalPort => 0, Proto => 'tcp',
                                      ReuseAddr => 1)
            or die "no free port: $!";
        my $p = $s->sockport;
        close $s;
        $p;
    };
}

# %%PORT%% and %%PORT_name%% become ports, %%DIR%% the prefix
sub expand {
    my ($self, $text) = @_;
    $text =~ s/%%PORT(?:_(\w+))?%%/$self->port($1 \/\/ 'http')/ge;
    $text =~ s/%%DIR%%/$self->{dir}/g;
    $text =~ s/%%TOP%%/$TOP/g;
    return $text;
}

sub write_file {
    my ($self, $name, $content) = @_;
    my $path = $name =~ m{^/} ? $name : "$self->{dir}/$name";
    open(my $fh, '>', $path) or die "$path: $!";
    binmode $fh;
    print $fh $content;
    close $fh;
    return $path;
}

sub read_file {
    my ($self, $name) = @_;
    my $path = $name =~ m{^/} ? $name : "$self->{dir}/$name";
    open(my $fh, '<', $path) or return undef;
    binmode $fh;
    local $/;
    my $c = <$fh>;
    close $fh;
    return $c;
}

# the whole nginx.conf around an http{} block of the test's own
sub nginx_conf {
    my ($self, $http, %opt) = @_;
    my $d = $self->{dir};
    my $workers = $opt{workers} // 1;
    my $master = $opt{master_process} // 'on';
    my $main = $opt{main} // '';
    my $level = $opt{error_log_level} // 'info';

    # the workers run unprivileged when the tests run as root
    chmod 0755, $d;
    for (qw(body proxy fastcgi uwsgi scgi logs)) {
        mkdir "$d/$_";
        chmod 0777, "$d/$_";
    }

    return $self->expand(<<"CONF");
load_module $MODULE;

daemon off;
master_process $master;
worker_processes $workers;
pid $d/nginx.pid;
error_log $d/error.log $level;
$main
events {
    worker_connections 1024;
}

http {
    log_format privacy '\$remote_addr "\$request" \$status '
                       'decision=\$privacy_decision '
                       'length=\$http_content_length';
    access_log $d/access.log privacy;

    client_body_temp_path $d/body;
    proxy_temp_path $d/proxy;
    fastcgi_temp_path $d/fastcgi;
    uwsgi_temp_path $d/uwsgi;
    scgi_temp_path $d/scgi;

$http
}
CONF
}

# The http{} block of the shipped conf/nginx.conf, as an operator would
# install it, with only its paths and addresses moved into the test's
# prefix: the key, the cookie list, Redis, the backend, the listen port
# and its logs (its access log becomes shipped.log, format "shipped").
# shipped_http(redis => PORT, backend => PORT)
sub shipped_http {
    my ($self, %o) = @_;
    my $conf = $self->read_file("$TOP/conf/nginx.conf")
        // die "conf/nginx.conf: $!";
    my ($http) = $conf =~ /^http \{\n(.*)^\}/ms
        or die 'conf/nginx.conf: no http block';
    my $d = $self->{dir};

    $self->write_file('privacy.key', 'k' x 32) unless -f "$d/privacy.key";
    $http =~ s{/etc/privacy-edge/privacy\.key}{$d/privacy.key}g;
    $http =~ s{/etc/privacy-edge/cookies\.conf}{$TOP/conf/cookies.conf}g;
    $http =~ s{privacy_redis 127\.0\.0\.1:6379}
              {privacy_redis 127.0.0.1:$o{redis}}g if $o{redis};
    $http =~ s{server 127\.0\.0\.1:9000;}{server 127.0.0.1:$o{backend};}g
        if $o{backend};
    $http =~ s{listen 127\.0\.0\.1:8080;}{listen 127.0.0.1:%%PORT%%;}g;
    $http =~ s{log_format privacy }{log_format shipped }g;
    $http =~ s{access_log /var/log/nginx/\S+ privacy;}
              {access_log $d/shipped.log shipped;}g;
    die 'conf/nginx.conf: a path the test does not know: ' . $1
        if $http =~ m{(/(?:etc|var|run)/\S+)};
    return $http;
}

# nginx -t: (exit code, everything it printed)
sub nginx_test_conf {
    my ($self, $http, %opt) = @_;
    my $conf = $self->write_file('nginx.conf', $self->nginx_conf($http, %opt));
    local $ENV{LD_PRELOAD} = $ENV{PE_NGINX_PRELOAD} if $ENV{PE_NGINX_PRELOAD};
    my $out = `$NGINX -t -p $self->{dir}/ -c $conf -e $self->{dir}/error.log 2>&1`;
    return ($? >> 8, $out);
}

# a configuration that must be refused, with a clear [emerg] message
sub conf_fails {
    my ($self, $http, $re, $name) = @_;
    my ($rc, $out) = $self->nginx_test_conf($http);
    ok($rc != 0, "$name: nginx -t fails");
    like($out, qr/\[emerg\].*$re/, "$name: the message names the problem")
        or diag($out);
}

sub nginx_start {
    my ($self, $http, %opt) = @_;
    my $conf = $self->write_file('nginx.conf', $self->nginx_conf($http, %opt));
    my ($rc, $out) = (0, '');

    ($rc, $out) = $self->nginx_test_conf($http, %opt);
    die "nginx -t failed:\n$out" if $rc;

    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        open(STDOUT, '>>', "$self->{dir}/nginx.stdout");
        open(STDERR, '>>', "$self->{dir}/nginx.stdout");
        # PE_NGINX_PRELOAD=$(gcc -print-file-name=libasan.so) with a module
        # built under ASan (README): into nginx alone, not perl or curl
        $ENV{LD_PRELOAD} = $ENV{PE_NGINX_PRELOAD} if $ENV{PE_NGINX_PRELOAD};
        exec($NGINX, '-p', "$self->{dir}/", '-c', $conf,
             '-e', "$self->{dir}/error.log") or POSIX::_exit(127);
    }

    $self->{nginx_pid} = $pid;

    for my $p (@{ $opt{ports} // [$self->port('http')] }) {
        wait_port($p, 10) or die "nginx did not listen on $p:\n"
            . ($self->read_file('error.log') // '');
    }

    return $pid;
}

sub nginx_signal {
    my ($self, $sig) = @_;
    kill $sig, $self->{nginx_pid} if $self->{nginx_pid};
}

# graceful stop, then the error log is checked
sub nginx_stop {
    my ($self) = @_;
    $self->nginx_stop_quiet or return;
    $self->check_error_log();
}

# graceful stop (QUIT) without checks: for teardown and benchmarks
sub nginx_stop_quiet {
    my ($self) = @_;
    my $pid = delete $self->{nginx_pid} or return 0;
    stop_pid($self, $pid, 'QUIT', 10);
    return 1;
}

# what must never be in the error log of a healthy run
sub error_log_problems {
    my ($self) = @_;
    # nginx's stderr too: a sanitizer reports there, not to error.log
    my $log = ($self->read_file('error.log') // '')
              . ($self->read_file('nginx.stdout') // '');
    return grep {
        /\[alert\]|\[emerg\]|\[crit\]|exited on signal|AddressSanitizer|
         LeakSanitizer|runtime error:|core dumped/x
    } split /\n/, $log;
}

sub check_error_log {
    my ($self) = @_;
    my @bad = $self->error_log_problems;
    ok(!@bad, 'error.log: no alert, crash or sanitizer report')
        or diag(join("\n", @bad[0 .. ($#bad < 9 ? $#bad : 9)]));
}

sub error_log { $_[0]->read_file('error.log') // '' }
sub access_log { $_[0]->read_file('access.log') // '' }

# starts a program in the background; stopped at the end of the test
sub spawn {
    my ($self, $name, @cmd) = @_;
    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        open(STDOUT, '>>', "$self->{dir}/$name.log");
        open(STDERR, '>>&', \*STDOUT);
        exec(@cmd) or POSIX::_exit(127);
    }
    push @{ $self->{pids} }, $pid;
    return $pid;
}

# signals a process, waits for it, and kills it if it will not go;
# returns its exit status
sub stop_pid {
    my ($self, $pid, $sig, $secs) = @_;
    kill($sig // 'TERM', $pid);
    my $deadline = time + ($secs // 5);
    while (time < $deadline) {
        return $? if waitpid($pid, WNOHANG) == $pid;
        sleep 0.02;
    }
    kill 'KILL', $pid;
    waitpid($pid, 0);
    return $?;
}

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

# privacy-backend with the given configuration text (%%PORT...%% and
# %%DIR%% expanded); waits until it listens on the port named 'backend'
sub backend {
    my ($self, $conf) = @_;
    my $file = $self->write_file('backend.conf', $self->expand($conf));
    my $pid = $self->spawn('backend', $BACKEND, '-c', $file);
    wait_port($self->port('backend'), 10) or die "backend did not start:\n"
        . ($self->read_file('backend.log') // '');
    return $pid;
}

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
        "$TOP/t/lib/$name-standin", '--port', $port, '--dir', $dir,
        '--key', $opt{key} // 'standin-key', '--run', $opt{run} // 0.6,
        ($opt{webhook_key} ? ('--webhook-key', $opt{webhook_key}) : ()));
    wait_port($port, 10) or die "$name stand-in did not start:\n"
        . ($self->read_file("$name.log") // '');
    return $port;
}

sub _jsonl {
    my ($self, $file) = @_;
    my $text = $self->read_file($file) // '';
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

sub DESTROY {
    my ($self) = @_;
    local $?;       # waitpid here must not become the test's exit code
    $self->nginx_stop_quiet;
    for my $pid (@{ $self->{pids} }) {
        kill 'KILL', $pid;
        waitpid($pid, 0);
    }
    $self->{pids} = [];
}

END {
    local $?;
    $_->DESTROY for @instances;
    @instances = ();
}

###########################################################################
# clients

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

# A small HTTP/2 client (prior knowledge, literal HPACK): HEADERS, then
# each piece of the body as a DATA frame (END_STREAM on the last), with
# the answer read as it comes.  With no pieces, HEADERS alone and no DATA
# frame ever: what the server answers from the headers only.  Returns
# {status, body, reset}; an empty list of pieces ends the stream with the
# HEADERS frame (a request without a body).  :status as nginx encodes it (a static table
# index, or raw digits), the body from DATA frames.
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

sub sample {
    my ($kind, $size) = @_;
    my $m = $MAGIC{$kind} // die "no sample $kind";
    $size //= 1024;
    return substr($m, 0, $size) if $size <= length $m;
    # filler that holds no CR, so no boundary can form by chance
    return $m . ('x' x ($size - length $m));
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
