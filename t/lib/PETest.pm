package PETest;

# The privacy-edge test harness, in the style of nginx-tests, core Perl only:
# a temporary prefix per test, the real nginx binary with our module loaded
# on free loopback ports, stand-ins that record what they receive, raw
# socket clients, and a teardown that fails the test when nginx logged an
# alert, a worker crashed or a sanitizer spoke.
#
# This file is the entry point every test uses (use PETest;): the object
# (its prefix, ports, files, the programs it starts, their teardown), the
# paths of what is tested ($TOP, $MODULE, $NGINX, $BACKEND), and the
# functions every test gets.  The rest lives by concern under PETest/:
#
#   PETest/Nginx.pm     nginx.conf, the shipped conf, nginx -t, start and
#                       stop, the error log audit            (methods)
#   PETest/Redis.pm     redis-server, redis_cmd, redis_query  (methods)
#   PETest/Stand.pm     provider and upstream stand-ins       (methods)
#   PETest/HTTP.pm      http, http_get, http_post, parse_response,
#                       wait_port, status_settled           (functions)
#   PETest/HTTP2.pm     http2_request, http2_headers_only,
#                       http2_burst                          (functions)
#   PETest/Fixtures.pm  sample, media_of, multipart_body, tcf_string,
#                       b64url, jwt_verify                   (functions)
#   PETest/Load.pm      hammer, hammer_nodes                 (functions)
#
# The methods there are PETest's by inheritance; the functions are
# exported from here, under the names they always had.

use strict;
use warnings;

use Test::More;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);
use Exporter qw(import);

use PETest::Nginx;
use PETest::Redis;
use PETest::Stand;
use PETest::HTTP qw(http http_get http_post parse_response wait_port
                    status_settled);
use PETest::HTTP2 qw(http2_headers_only http2_request http2_burst
                     _h2_frame _h2_headers);
use PETest::Fixtures qw(multipart_body sample media_of tcf_string b64url
                        jwt_verify);
use PETest::Load qw(hammer hammer_nodes);

our @ISA = qw(PETest::Nginx PETest::Redis PETest::Stand);

our @EXPORT = qw(http http_get http_post http2_headers_only http2_request
                 http2_burst status_settled
                 multipart_body sample media_of parse_response wait_port
                 tcf_string b64url jwt_verify hammer hammer_nodes);

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
        owner => $$,
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

###########################################################################
# the programs a test starts, and their end

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

# nginx first, gracefully (PETest/Nginx.pm), then whatever spawn() and
# the stand-ins started
sub DESTROY {
    my ($self) = @_;
    # a child the test forked that ends as Perl ends: not its to stop
    return if $self->{owner} != $$;
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

1;
