#!/usr/bin/perl

# The Debian packages (make deb, debian/) on this machine, as an operator
# gets them: both installed with dpkg -i; the module enabled through
# /etc/nginx/modules-enabled and the system configuration passing nginx -t;
# the keys made with their owners and modes, and never overwritten; lintian
# clean.  Then the installed pieces run together: the installed backend as
# its unit would run it (its user, its Environment and EnvironmentFile, its
# ExecStartPre check), on a copy of the installed backend.conf pointed at a
# test Redis and the fal stand-in, and an nginx of the test's own that
# loads the module by the installed modules-enabled snippet, with the
# shipped http{} block and the installed keys and cookie list: a real
# upload goes through both to the stand-in and finishes.  Last, dpkg -r
# keeps what Debian keeps on remove, and dpkg --purge leaves nothing but
# the system user (Debian policy keeps it; the test removes it when it
# made it).
#
# The machine is left as found: an END block purges both packages even on
# failure, and the test refuses to run where they, or files of theirs,
# already are.  No service is started: policy-rc.d forbids it meanwhile
# (and without systemd deb-systemd-invoke starts nothing anyway); the
# system nginx is neither started nor reloaded.

use strict;
use warnings;

use Test::More;
use JSON::PP;
use POSIX ();
use File::Temp ();
use Time::HiRes qw(time sleep);

use lib 't/lib';
use PETest;

my @PKGS = qw(libnginx-mod-http-privacy privacy-edge-backend);
my $SO = '/usr/lib/nginx/modules/ngx_http_privacy_module.so';
my $AVAIL = '/usr/share/nginx/modules-available/mod-http-privacy.conf';
my $SNIPPET = '/etc/nginx/modules-enabled/50-mod-http-privacy.conf';
my $UNIT = '/lib/systemd/system/privacy-edge-backend.service';
my $ETC = '/etc/privacy-edge';
my $STATE = '/var/lib/privacy-edge';
my $USER = 'privacy-edge';
my $POLICY = '/usr/sbin/policy-rc.d';
my $NGINX = '/usr/sbin/nginx';
my $top = $PETest::TOP;

plan(skip_all => 'installs packages: needs root') if $> != 0;
for my $tool (qw(dpkg dpkg-buildpackage dpkg-query setpriv)) {
    plan(skip_all => "$tool not found")
        unless grep { -x "$_/$tool" } split /:/, $ENV{PATH};
}

sub slurp {
    my ($f) = @_;
    open(my $fh, '<', $f) or return undef;
    local $/;
    return scalar <$fh>;
}

# a command's exit code and everything it printed
sub capture {
    my @cmd = @_;
    my $pid = open(my $ph, '-|') // die "fork: $!";
    if (!$pid) {
        open(STDERR, '>&', \*STDOUT);
        exec(@cmd) or POSIX::_exit(127);
    }
    local $/;
    my $o = <$ph> // '';
    close $ph;
    return ($? >> 8, $o);
}

sub status_of {
    my ($p) = @_;
    my $s = `dpkg-query -W -f='\${Status}' $p 2>/dev/null`;
    return $s;
}

# never touch an installation that is not the test's own
for my $p (@PKGS) {
    my $s = status_of($p);
    plan(skip_all => "$p is on this machine ($s): the test would remove it")
        if $s ne '' && $s !~ /not-installed/;
}
for my $f ($SO, $AVAIL, $SNIPPET, "$SNIPPET.removed", $ETC, $STATE) {
    plan(skip_all => "$f exists: the test would remove it") if -e $f || -l $f;
}

# the packages, as make deb (make test) built them; built now if missing
# or out of date (make deb rebuilds only then)
{
    my ($rc, $out) = capture('make', '-C', $top, 'deb');
    BAIL_OUT("make deb failed:\n$out") if $rc;
}
my %deb;
for my $p (@PKGS) {
    my @f = sort glob("$top/build/${p}_*.deb");
    BAIL_OUT("build/${p}_*.deb: not built") unless @f;
    $deb{$p} = $f[-1];
}

my $had_user = defined getpwnam($USER);
my $had_group = defined getgrnam($USER);
my $made_policy = 0;
my $touched = 0;
my $t;

# dpkg, waiting while another dpkg or apt holds the lock
sub dpkg {
    my @args = @_;
    my ($out, $rc);
    my $deadline = time + 300;
    while (1) {
        $out = `dpkg @args 2>&1`;
        $rc = $? >> 8;
        last unless $rc && $out =~ /\block(?:ed)? by another process|is locked/i
                    && time < $deadline;
        sleep 2;
    }
    return ($rc, $out);
}

END {
    local $?;
    # what the test started first (the backend runs as privacy-edge, in
    # the spool), then the packages, then what the test itself made
    $t->DESTROY if $t;
    if ($touched) {
        my @left = grep { status_of($_) !~ /not-installed|^$/ } @PKGS;
        if (@left) {
            my ($rc, $out) = dpkg('--purge', @left);
            diag("END: dpkg --purge @left: $out") if $rc;
        }
        if (!$had_user && defined getpwnam($USER)) {
            system("deluser --quiet --system $USER >/dev/null 2>&1");
        }
        if (!$had_group && defined getgrnam($USER)) {
            system("delgroup --quiet --system $USER >/dev/null 2>&1");
        }
    }
    unlink $POLICY if $made_policy;
}

# no package script starts a service meanwhile (what scripts/deps.sh
# does for apt-get)
if (!-e $POLICY) {
    open(my $fh, '>', $POLICY) or die "$POLICY: $!";
    print $fh "#!/bin/sh\n# t/80-deb.t: no service starts meanwhile\nexit 101\n";
    close $fh;
    chmod 0755, $POLICY;
    $made_policy = 1;
}

###########################################################################
# lintian

SKIP: {
    skip('lintian not installed', 1)
        unless grep { -x "$_/lintian" } split /:/, $ENV{PATH};
    my $out = join '', grep { !/running with root privileges/ }
        `lintian --pedantic -I $deb{$PKGS[0]} $deb{$PKGS[1]} 2>&1`;
    my @bad = grep { /^[EW]: / } split /\n/, $out;
    is(scalar @bad, 0, 'lintian: no error, no warning')
        or diag($out);
    diag("lintian:\n$out") if $out =~ /\S/ && !@bad;
}

###########################################################################
# installed

my $nginx_pid = slurp('/run/nginx.pid');
$touched = 1;
my ($rc, $out) = dpkg('-i', $deb{$PKGS[0]}, $deb{$PKGS[1]});
if ($rc && $out =~ /dependency problems/) {
    diag("dpkg -i: $out\napt-get -f install for what is missing");
    $out .= `DEBIAN_FRONTEND=noninteractive apt-get -f install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 2>&1`;
    $rc = grep({ status_of($_) ne 'install ok installed' } @PKGS) ? 1 : 0;
}
is($rc, 0, 'dpkg -i of both packages') or diag($out);
for my $p (@PKGS) {
    is(status_of($p), 'install ok installed', "$p: installed")
        or BAIL_OUT("$p not installed");
}
ok(!glob('/etc/systemd/system/*.wants/privacy-edge-backend.service'),
   'the backend\'s unit not enabled on install (README.Debian)');
ok(!grep({ (readlink("/proc/$_/exe") // '') eq '/usr/sbin/privacy-backend' }
         map { m{/(\d+)$} } glob('/proc/[0-9]*')),
   'no backend started on install');
is(slurp('/run/nginx.pid'), $nginx_pid, 'the system nginx neither started '
   . 'nor restarted');

# the module: its .so, its load line and the symlink dh_nginx's scripts
# made, and the nginx ABI it was built against as its dependency
ok(-f $SO, "the module: $SO");
is(slurp($AVAIL), "load_module modules/ngx_http_privacy_module.so;\n",
   "$AVAIL: its load line");
is(readlink($SNIPPET), $AVAIL, "enabled: $SNIPPET -> $AVAIL");
my ($abi) = (slurp('/usr/share/nginx/src/debian/libnginx-mod.abisubstvars')
             // '') =~ /^nginx:abi=(\S+)/m;
my $depends = `dpkg-query -W -f='\${Depends}' $PKGS[0]`;
ok($abi && $depends =~ /(?:^|, )\Q$abi\E(?:,|$)/,
   "Depends on the nginx ABI ($abi)") or diag("Depends: $depends");
like(`dpkg-query -W -f='\${Provides}' nginx 2>/dev/null`, qr/\Q$abi\E/,
     '... which the installed nginx provides') if $abi;

# the system configuration, which includes modules-enabled/*.conf
my $nt = `$NGINX -t 2>&1`;
is($? >> 8, 0, 'nginx -t: the system configuration with the module')
    or diag($nt);
my $dump = `$NGINX -T 2>/dev/null`;
like($dump, qr{^# configuration file \Q$SNIPPET\E:\nload_module modules/ngx_http_privacy_module\.so;}m,
     '... which loads it through the modules-enabled snippet');

# the user, the keys, backend.env and the spool
my @pw = getpwnam($USER);
ok(@pw, "the system user $USER") or BAIL_OUT("no user $USER");
my ($uid, $gid, $shell) = @pw[2, 3, 8];
ok($uid < 1000, "... a system uid ($uid)");
like($shell, qr{/(?:nologin|false)$}, "... no login shell ($shell)");
is((getgrgid($gid))[0], $USER, "... its own group");
unlike((getgrnam($USER))[3] // '', qr/\bwww-data\b/,
       '... without www-data: nginx reads privacy.key as root, with its '
       . 'configuration');

sub mode_of {
    my @st = lstat($_[0]) or return 'missing';
    return sprintf('%04o %s:%s', $st[2] & 07777,
                   scalar(getpwuid($st[4])) // $st[4],
                   scalar(getgrgid($st[5])) // $st[5]);
}

my %key;
for my $k (qw(privacy.key data.key)) {
    my $f = "$ETC/$k";
    is(mode_of($f), "0640 root:$USER", "$f: root:$USER 0640");
    $key{$k} = slurp($f) // '';
    like($key{$k}, qr/^[0-9a-f]{64}$/, "... 32 random bytes, 64 hex digits");
    isnt(system("dpkg -S $f >/dev/null 2>&1"), 0,
         '... made on the machine, in no package');
}
isnt($key{'privacy.key'}, $key{'data.key'}, 'the two keys differ');
is(mode_of("$ETC/backend.env"), "0640 root:$USER",
   "$ETC/backend.env: root:$USER 0640");
is(mode_of($STATE), "0700 $USER:$USER", "$STATE: $USER 0700");
is(mode_of("$STATE/spool"), "0700 $USER:$USER", "$STATE/spool: $USER 0700");
like(`dpkg-query -W -f='\${Conffiles}' $PKGS[1]`,
     qr{^ \Q$ETC\E/backend\.conf [0-9a-f]{32}$}m,
     "$ETC/backend.conf: a conffile");
like(`dpkg-query -W -f='\${Conffiles}' $PKGS[0]`,
     qr{^ \Q$ETC\E/cookies\.conf [0-9a-f]{32}$}m,
     "$ETC/cookies.conf: a conffile (of the module)");

# installed again: the keys stay, the module stays enabled; and what the
# service user may have put in its own directory is never followed: the
# spool made a symlink to a directory of root's, which must stay root's
my $bait = File::Temp::tempdir(CLEANUP => 1);
chmod 0755, $bait;
rename "$STATE/spool", "$STATE/spool.real" or die "rename: $!";
symlink $bait, "$STATE/spool" or die "symlink: $!";
($rc, $out) = dpkg('-i', $deb{$PKGS[1]}, $deb{$PKGS[0]});
is($rc, 0, 'dpkg -i again') or diag($out);
is(mode_of($bait), '0755 root:root', '... a symlink in the spool\'s place '
   . 'not followed: its target still root\'s, 0755');
unlink "$STATE/spool";
rename "$STATE/spool.real", "$STATE/spool" or die "rename: $!";
is(slurp("$ETC/$_"), $key{$_}, "... $_ not overwritten")
    for sort keys %key;
is(readlink($SNIPPET), $AVAIL, '... the module still enabled');

###########################################################################
# the unit

my %unit;
for (split /\n/, slurp($UNIT) // '') {
    next if /^\s*(?:#|;|\[|$)/;
    my ($k, $v) = /^(\w+)=(.*)$/ or next;
    push @{ $unit{$k} }, $v;
}
sub unit1 { my $v = $unit{$_[0]}; return $v ? $v->[-1] : undef }

my %want = (User => $USER, Group => $USER, ProtectSystem => 'strict',
            ProtectHome => 'yes', PrivateTmp => 'yes',
            NoNewPrivileges => 'yes', CapabilityBoundingSet => '',
            RestrictAddressFamilies => 'AF_INET AF_INET6 AF_UNIX',
            SystemCallFilter => '@system-service',
            EnvironmentFile => "-$ETC/backend.env");
is(unit1($_), $want{$_}, "the unit: $_=$want{$_}") for sort keys %want;

# the spool of the installed backend.conf is the unit's StateDirectory's,
# and the one path it may write
my $bconf = slurp("$ETC/backend.conf") // '';
my ($spool) = $bconf =~ /^spool\s+(\S+);/m;
my @state = map { "/var/lib/$_" } map { split ' ' } @{ $unit{StateDirectory} // [] };
ok($spool && grep({ $_ eq $spool } @state),
   "backend.conf's spool ($spool) is a StateDirectory= of the unit");
is(unit1('ReadWritePaths'), $spool, "... and its only ReadWritePaths=");

SKIP: {
    skip('systemd-analyze not installed', 1) unless -x '/usr/bin/systemd-analyze';
    my $v = `systemd-analyze verify $UNIT 2>&1`;
    is($? >> 8, 0, 'systemd-analyze verify: the unit') or diag($v);
}

###########################################################################
# the installed backend and module together: a real upload

$PETest::MODULE = $SO;
$t = PETest->new;
my $d = $t->dir;
chmod 0755, $d;

my $FAL_KEY = 'fal-key-from-backend-env-' . int(rand(1e9));
my $rport = $t->redis;
my $fport = $t->standin('fal', key => $FAL_KEY, run => 0.6);
my $bport = $t->port('backend');
my $eport = $t->port;

# the credentials where an operator puts them, the installed backend.env:
# every one the shipped backend.conf names (the backend starts only with
# all of them), fal's the stand-in's
my %cred = map { $_ => "$_-of-the-deb-test" }
           map { (my $l = $_) =~ s/#.*//; $l =~ /\b\w+_env=(\w+)/g }
           split /\n/, $bconf;
$cred{FAL_KEY} = $FAL_KEY;
$cred{REPLICATE_WEBHOOK_SECRET} = 'whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD'
    if exists $cred{REPLICATE_WEBHOOK_SECRET};
open(my $env, '>>', "$ETC/backend.env") or die "$ETC/backend.env: $!";
print $env map { "$_=$cred{$_}\n" } sort keys %cred;
close $env;

# the installed backend.conf, pointed at the test's Redis, port and
# stand-in (the providers not asked for at a port nothing listens on);
# keys and spool stay the installed ones
my $conf = $bconf;
for my $s ([qr{^listen\s+127\.0\.0\.1:9000;}m, "listen 127.0.0.1:$bport;"],
           [qr{^redis\s+127\.0\.0\.1:6379;}m, "redis 127.0.0.1:$rport;"],
           [qr{^public_url\s+\S+;}m, "public_url http://127.0.0.1:$eport;"],
           [qr{base=https://queue\.fal\.run\b}, "base=http://127.0.0.1:$fport"],
           [qr{base=https://\S+}, 'base=http://127.0.0.1:9'])
{
    my ($re, $to) = @$s;
    $conf =~ s/$re/$to/g or die "backend.conf: nothing matches $re";
}
my $cfile = $t->write_file('backend.conf', $conf);
chmod 0644, $cfile;

# the environment systemd gives the unit: its user's, Environment=,
# then EnvironmentFile= (a "-" one may be missing)
my %env = (PATH => '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
           USER => $USER, LOGNAME => $USER, HOME => $pw[7], SHELL => $shell);
for (map { split ' ' } @{ $unit{Environment} // [] }) {
    $env{$1} = $2 if /^"?(\w+)=(.*?)"?$/;
}
for my $ef (@{ $unit{EnvironmentFile} // [] }) {
    my $opt = $ef =~ s/^-//;
    my $text = slurp($ef);
    die "EnvironmentFile $ef: missing" if !defined $text && !$opt;
    for (split /\n/, $text // '') {
        next if /^\s*(?:#|;|$)/;
        $env{$1} = $2 if /^\s*(\w+)=(.*?)\s*$/;
    }
}
is($env{FAL_KEY}, $FAL_KEY, 'the unit\'s EnvironmentFile gives FAL_KEY');

# its ExecStartPre and ExecStart, on the test's copy of backend.conf, as
# its user, with no privilege to gain or keep
sub as_unit {
    my ($line) = @_;
    my @cmd = split ' ', $line;
    s{^\Q$ETC\E/backend\.conf$}{$cfile} for @cmd;
    return ('setpriv', "--reuid=$USER", "--regid=$USER", '--init-groups',
            '--no-new-privs', '--inh-caps=-all', '--bounding-set=-all',
            'env', '-i', map({ "$_=$env{$_}" } sort keys %env), @cmd);
}
ok(unit1('ExecStartPre'), 'the unit checks the configuration first');
my ($prc, $pre) = capture(as_unit(unit1('ExecStartPre') // '/bin/true'));
is($prc, 0, 'ExecStartPre as the unit runs it: the configuration is ok')
    or diag($pre);

my $old = umask(oct(unit1('UMask') // '0022'));
my $bpid = $t->spawn('backend', as_unit(unit1('ExecStart')));
umask($old);
PETest::wait_port($bport, 10)
    or BAIL_OUT("the installed backend did not start:\n"
                . ($t->read_file('backend.log') // ''));
my $pst = slurp("/proc/$bpid/status") // '';
like($pst, qr/^Uid:\s+$uid\s+$uid\s+$uid\s+$uid$/m,
     "the installed backend runs, as $USER");
like($pst, qr/^CapBnd:\s+0+$/m, '... with no capability');
like($pst, qr/^NoNewPrivs:\s+1$/m, '... and no new privileges');

# nginx: the test's own main configuration, which loads the module by the
# installed modules-enabled snippet, and the shipped http{} block with
# only the ports and the access log moved (the installed example if docs
# are installed); the key and the cookie list are the installed ones
my $example = '/usr/share/doc/libnginx-mod-http-privacy/examples/nginx.conf';
my $shipped = slurp(-f $example ? $example
                                            : "$top/conf/nginx.conf")
    // die "no nginx.conf example";
my ($http) = $shipped =~ /^http \{\n(.*)^\}/ms or die 'no http block';
$http =~ s{privacy_redis 127\.0\.0\.1:6379}{privacy_redis 127.0.0.1:$rport}g;
$http =~ s{server 127\.0\.0\.1:9000;}{server 127.0.0.1:$bport;}g;
$http =~ s{listen 127\.0\.0\.1:8080;}{listen 127.0.0.1:$eport;}g;
$http =~ s{access_log /var/log/nginx/\S+ privacy;}{access_log $d/access.log privacy;}g;
my @paths = $http =~ m{(/(?:etc|var|run)/\S+?);}g;
is_deeply([sort @paths], ["$ETC/cookies.conf", "$ETC/privacy.key"],
          'the shipped http{} uses the installed key and cookie list');

for (qw(body proxy fastcgi uwsgi scgi)) {
    mkdir "$d/$_";
    chmod 0777, "$d/$_";
}
my $nconf = $t->write_file('nginx.conf', <<"CONF");
user www-data;
include $SNIPPET;

daemon off;
master_process on;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log info;

events {
    worker_connections 1024;
}

http {
    client_body_temp_path $d/body;
    proxy_temp_path $d/proxy;
    fastcgi_temp_path $d/fastcgi;
    uwsgi_temp_path $d/uwsgi;
    scgi_temp_path $d/scgi;

$http
}
CONF
$nt = `$NGINX -t -c $nconf -e $d/error.log 2>&1`;
is($? >> 8, 0, 'nginx -t: the site with the installed module and keys')
    or diag($nt);

my $npid = fork();
die "fork: $!" unless defined $npid;
if ($npid == 0) {
    open(STDOUT, '>>', "$d/nginx.stdout");
    open(STDERR, '>>', "$d/nginx.stdout");
    exec($NGINX, '-c', $nconf, '-e', "$d/error.log") or POSIX::_exit(127);
}
$t->{nginx_pid} = $npid;
PETest::wait_port($eport, 10)
    or BAIL_OUT("nginx did not start:\n" . ($t->read_file('error.log') // ''));

# an upload as a browser sends it: the opt-in, a session, a picture
my $PROMPT = 'a-cat-surfing-through-the-packages-' . int(rand(1e9));
my $B = 'deb-form-80';
my $body = multipart_body($B, ['prompt', undef, undef, $PROMPT],
    ['model', undef, undef, 'fal-ai/kling-video/v2.1/standard/image-to-video'],
    ['file', 'cat.png', 'image/png', sample('png', 4000)]);
my $session = sprintf('sess-deb-%08x', int rand 2**32);
my $r = http($eport, "POST /v1/jobs HTTP/1.1\r\nHost: localhost\r\n"
             . "CF-IPCountry: DE\r\n"
             . "Cookie: pe_consent=ai_processing:1; session=$session\r\n"
             . "Content-Type: multipart/form-data; boundary=$B\r\n"
             . 'Content-Length: ' . length($body) . "\r\n"
             . "Connection: close\r\n\r\n$body", timeout => 15);
is($r->{status}, 202, 'an upload through the installed module to the '
   . 'installed backend: 202') or diag($r->{raw});
my $job = eval { decode_json($r->{body}) } // {};
like($job->{id} // '', qr/^[0-9a-f]{32}$/, '... a job');

# the job at the provider (the stand-in), with the key of backend.env
my @sub;
for (1 .. 200) {
    @sub = grep { $_->{method} eq 'POST'
                  && index($_->{body} // '', $PROMPT) >= 0 }
           @{ $t->standin_requests('fal') };
    last if @sub;
    sleep 0.05;
}
is(scalar @sub, 1, '... submitted to the provider once');
is($sub[0]{headers}{authorization}, "Key $FAL_KEY",
   '... with the key from the installed backend.env') if @sub;

my $status = '';
my $deadline = time + 30;
while (time < $deadline) {
    my $g = http($eport, "GET /v1/jobs/$job->{id} HTTP/1.1\r\n"
                 . "Host: localhost\r\nCookie: session=$session\r\n"
                 . "Connection: close\r\n\r\n");
    $status = (eval { decode_json($g->{body}) } // {})->{status} // '';
    last if $status =~ /^(?:succeeded|failed|expired)$/;
    sleep 0.25;
}
is($status, 'succeeded', '... and it finished, read back through the edge');

$t->nginx_stop;
is($t->stop_pid($bpid, 'TERM', 10), 0, 'the backend stops cleanly on SIGTERM');
@{ $t->{pids} } = grep { $_ != $bpid } @{ $t->{pids} };
$t->DESTROY;

###########################################################################
# removed, then purged

($rc, $out) = dpkg('-r', @PKGS);
is($rc, 0, 'dpkg -r of both') or diag($out);
ok(!-e $SO && !-e '/usr/sbin/privacy-backend' && !-e $UNIT,
   '... the module, the daemon and the unit gone');
ok(!-l $SNIPPET && -l "$SNIPPET.removed",
   '... the module disabled (its link kept aside, as dh_nginx does)');
ok(-f "$ETC/backend.conf" && -f "$ETC/cookies.conf" && -f "$ETC/privacy.key"
   && -d "$STATE/spool", '... configuration, keys and spool kept');
$nt = `$NGINX -t 2>&1`;
is($? >> 8, 0, '... and the system configuration still passes nginx -t')
    or diag($nt);

($rc, $out) = dpkg('--purge', @PKGS);
is($rc, 0, 'dpkg --purge of both') or diag($out);
for my $p (@PKGS) {
    like(status_of($p), qr/not-installed|^$/, "$p: purged");
}
my @left = grep { -e $_ || -l $_ }
    ($ETC, $STATE, $SO, $AVAIL, $SNIPPET, "$SNIPPET.removed",
     '/usr/sbin/privacy-backend', $UNIT,
     '/usr/share/doc/libnginx-mod-http-privacy',
     '/usr/share/doc/privacy-edge-backend', '/usr/share/privacy-edge-backend',
     '/etc/systemd/system/multi-user.target.wants/privacy-edge-backend.service',
     glob('/var/lib/systemd/deb-systemd-helper-enabled/*privacy-edge*'),
     glob('/var/lib/systemd/deb-systemd-helper-enabled/*/*privacy-edge*'),
     glob('/var/lib/dpkg/info/libnginx-mod-http-privacy.*'),
     glob('/var/lib/dpkg/info/privacy-edge-backend.*'));
is_deeply(\@left, [], 'nothing left: configuration, keys, spool, the '
          . 'module\'s link, the unit\'s links');
$nt = `$NGINX -t 2>&1`;
is($? >> 8, 0, 'nginx -t after the purge') or diag($nt);

# Debian policy: a package does not remove its system user on purge (a
# file it owned elsewhere must not pass to a later user of the uid)
ok(defined getpwnam($USER), "the user $USER stays after purge (Debian "
   . 'policy)' . ($had_user ? '' : '; the test removes it, as it made it'));

done_testing();
