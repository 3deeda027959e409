package PETest::Nginx;

# The nginx side of a PETest object: the nginx.conf written around a
# test's http{} block (or the shipped conf/nginx.conf's, moved into the
# test's prefix), nginx -t and refused configurations, starting, signalling
# and stopping the real nginx with the module loaded, and the audit of its
# error log (an alert, a crash or a sanitizer report fails the test).
#
# These are methods of PETest, which inherits them: call them on the
# object PETest->new returns, never on this package.

use strict;
use warnings;

use Test::More;
use POSIX ();

use PETest::HTTP qw(wait_port);

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
load_module $PETest::MODULE;

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
    my $conf = $self->read_file("$PETest::TOP/conf/nginx.conf")
        // die "conf/nginx.conf: $!";
    my ($http) = $conf =~ /^http \{\n(.*)^\}/ms
        or die 'conf/nginx.conf: no http block';
    my $d = $self->{dir};

    $self->write_file('privacy.key', 'k' x 32) unless -f "$d/privacy.key";
    $http =~ s{/etc/privacy-edge/privacy\.key}{$d/privacy.key}g;
    $http =~ s{/etc/privacy-edge/cookies\.conf}
              {$PETest::TOP/conf/cookies.conf}g;
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
    my $out = `$PETest::NGINX -t -p $self->{dir}/ -c $conf -e $self->{dir}/error.log 2>&1`;
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
        # built under ASan (t/README.md): into nginx alone, not perl or curl
        $ENV{LD_PRELOAD} = $ENV{PE_NGINX_PRELOAD} if $ENV{PE_NGINX_PRELOAD};
        exec($PETest::NGINX, '-p', "$self->{dir}/", '-c', $conf,
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
    $self->stop_pid($pid, 'QUIT', 10);
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

1;
